import { TeardownErrors } from '../../base/errors.js';
import { driverOf } from '../drivers/index.js';
import { setLoopbackDown } from '../loopback.js';
import { isGone, teardown } from '../undo.js';
import { attachmentOwner, removeByRecord, removedWithPorts } from './firewall.js';
import { openHost } from './host.js';
import { clearRecord, readRecord } from './record.js';
import type { DetachRequest } from './request.js';
import { unshapeStep } from './shaping.js';

/**
 * Detaches in the reverse order of attach: published ports (with the firewall rules, in one batch
 * when they share the ports' firewall), firewall rules, shaping, the driver's links,
 * addresses, lo, the record; then the names, rewritten from the records as they are then. Best effort and idempotent: every step runs, what is gone already is
 * success, and every other error leaves together at the end.
 */
export async function detach(req: DetachRequest): Promise<void> {
  const { identity, ports } = req;
  // The ports go first and outside the store's lock: they take locks of their own, per host port and owner.
  const errors = ports
    ? await teardown([
        {
          what: `ports of ${identity.name}`,
          run: async () =>
            ports.mapper.unpublish(
              identity.owner,
              undefined,
              await removedWithPorts(req.firewall, attachmentOwner(identity.owner), ports.mapper),
            ),
        },
      ])
    : [];
  const record = req.record;
  errors.push(...(record?.kind === 'endpoint' ? await record.store.locked(() => unlink(req)) : await unlink(req)));
  if (errors.length > 0) throw new TeardownErrors(errors);
}

async function unlink(req: DetachRequest): Promise<Error[]> {
  const current = req.record ? readRecord(req.record) : null;
  req.record?.expect?.(current);
  // The library's endpoint knows where it is joined; for a CNI attachment the runtime's word is the truth.
  const endpoint = req.record?.kind === 'endpoint';
  const joined = endpoint ? current?.join : undefined;
  if (endpoint && !joined) return [];
  const netnsPath = joined?.netnsPath ?? req.netnsPath;
  const ifname = joined?.ifname ?? req.ifname ?? '';
  const hostLink = joined?.hostVeth || req.identity.hostLink;
  const { addresses, firewall, record, names } = req;
  const driver = driverOf(req.network.driver);
  const host = openHost(req.hostNetnsPath);
  try {
    return await teardown(
      [
        ...(firewall
          ? [{ what: 'firewall rules', run: () => removeByRecord(firewall, attachmentOwner(req.identity.owner)) }]
          : []),
        // An IFB named after the attachment goes whether or not the caller still knows the limits.
        ...(driver.makesInterface ? [unshapeStep(host, req.identity)] : []),
        ...driver.detach(host, {
          network: req.network.name,
          hostLink,
          ifname,
          ...(netnsPath ? { netnsPath } : {}),
        }),
        ...(addresses ? [{ what: addresses.name, run: () => addresses.release(ifname) }] : []),
        ...(req.loopback ? [{ what: 'lo', run: () => setLoopbackDown(netnsPath, req.log) }] : []),
        ...(record ? [{ what: 'the attachment record', run: () => clearRecord(record, current) }] : []),
        ...(names ? [{ what: 'names', run: () => names.withdraw({ netnsPath }) }] : []),
      ],
      isGone,
    );
  } finally {
    host.close();
  }
}
