// comlink's Node adapter ships as an .mjs file whose .d.ts uses DOM types; declared here
// with the Node types it really takes (docs/notes.md).
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  import type { MessagePort, Worker } from 'node:worker_threads';
  export default function nodeEndpoint(port: MessagePort | Worker): Endpoint;
}
