// Runs on: the main thread. The server's structured log: pino, JSON lines on stdout,
// written synchronously (so the ready line is out before a test or supervisor reads it, and
// the last lines are not lost on exit). Only lifecycle events are logged: never a request.
import { pino, type Logger } from 'pino';
import type { LogLevel } from './options.js';

export function createLogger(level: LogLevel): Logger {
  return pino({ name: 'ringkv', level, base: { pid: process.pid } }, pino.destination({ fd: 1, sync: true }));
}
