// Runs on: the browser (the dashboard page). A colour per ring member: one hue per node,
// its shards in lighter and darker shades of it, so a node's partitions read as one family.
/// <reference lib="dom" />

/** Hues this far apart (the golden angle) stay distinct for any number of nodes. */
const HUE_STEP = 137.508;
/** Lightness of a node's first shard, and the step between its shards. */
const BASE_LIGHTNESS = 50;
const SHARD_LIGHTNESS_STEP = 14;

/** 'n1/s0' → node 'n1', shard 's0'; a single store's 's0' → node '' (this server). */
export function splitMember(id: string): { node: string; shard: string } {
  const slash = id.lastIndexOf('/');
  return slash < 0 ? { node: '', shard: id } : { node: id.slice(0, slash), shard: id.slice(slash + 1) };
}

/** Colours for the members (ids in ring order). */
export function memberColours(ids: readonly string[]): Map<string, string> {
  const nodes: string[] = [];
  const shardIndex = new Map<string, number>();
  const perNode = new Map<string, number>();
  for (const id of ids) {
    const { node } = splitMember(id);
    if (!perNode.has(node)) {
      perNode.set(node, 0);
      nodes.push(node);
    }
    const i = perNode.get(node)!;
    shardIndex.set(id, i);
    perNode.set(node, i + 1);
  }
  const out = new Map<string, string>();
  for (const id of ids) {
    const n = nodes.indexOf(splitMember(id).node);
    const single = nodes.length === 1;
    // One node: spread its shards over the hues; several: a hue per node, shades per shard.
    const hue = single ? (shardIndex.get(id)! * HUE_STEP) % 360 : (n * HUE_STEP) % 360;
    const light = single ? BASE_LIGHTNESS : BASE_LIGHTNESS + (shardIndex.get(id)! % 4) * SHARD_LIGHTNESS_STEP - SHARD_LIGHTNESS_STEP;
    out.set(id, `hsl(${hue.toFixed(0)} 60% ${light}%)`);
  }
  return out;
}
