import type { Linked } from '../drivers/driver.js';
import { type EndpointRecord, endpointKey } from '../model.js';
import type { UndoStack } from '../undo.js';
import type { DetachRecord, RecordRequest } from './request.js';

/** Writes the endpoint joined: the attach's last step, so a failed write undoes the rest. */
export async function saveRecord(
  req: RecordRequest,
  at: { readonly netnsPath: string; readonly ifname: string },
  linked: Linked,
  undo: UndoStack,
): Promise<EndpointRecord> {
  const key = endpointKey(req.endpoint.network, req.endpoint.name);
  const before = req.store.read<EndpointRecord>('endpoints', key);
  const next: EndpointRecord = {
    ...req.endpoint,
    join: {
      sandbox: req.sandbox,
      netnsPath: at.netnsPath,
      ifname: at.ifname,
      hostVeth: linked.hostLink,
      mac: linked.mac,
      addresses: linked.ips.map((ip) => ip.address),
    },
  };
  await req.store.writeAsync('endpoints', key, next);
  undo.push('the attachment record', () =>
    before ? req.store.write('endpoints', key, before) : req.store.remove('endpoints', key),
  );
  return next;
}

export function readRecord(req: DetachRecord): EndpointRecord | null {
  return req.store.read<EndpointRecord>('endpoints', endpointKey(req.network, req.name));
}

/** The library's endpoint stays, without its join; a CNI attachment's record goes. Gone is success. */
export function clearRecord(req: DetachRecord, current: EndpointRecord | null): void {
  const key = endpointKey(req.network, req.name);
  if (req.kind === 'attachment') {
    req.store.remove('endpoints', key);
  } else if (current?.join) {
    const { join: _gone, ...rest } = current;
    req.store.write('endpoints', key, rest);
  }
}
