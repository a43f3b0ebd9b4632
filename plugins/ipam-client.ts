import { delegate } from './delegate.js';
import { ipamPlugin } from './ipam/ipam.js';
import type {
  AddRequest,
  CheckRequest,
  CniAttachment,
  CniResult,
  DelRequest,
  GcRequest,
  PluginContext,
  StatusRequest,
} from './types.js';

/** How a main plugin reaches its IPAM: the same verbs, whoever answers them. */
export interface IpamClient {
  add(req: AddRequest): Promise<CniResult>;
  del(req: DelRequest): Promise<void>;
  check(req: CheckRequest): Promise<void>;
  gc(req: GcRequest): Promise<void>;
  status(req: StatusRequest): Promise<void>;
}

/** berth's own IPAM type: answered in-process, with no second process per call. */
export const BERTH_IPAM = 'berth-ipam';

/**
 * berth-ipam runs in this process on the same request; any other type is executed
 * from CNI_PATH per the delegation contract (so host-local and friends keep working).
 */
export function ipamClient(type: string, ctx: PluginContext): IpamClient {
  if (type === BERTH_IPAM) {
    const p = ipamPlugin();
    return {
      add: (req) => p.add(req, ctx),
      del: (req) => p.del(req, ctx),
      check: (req) => p.check(req, ctx),
      gc: async (req) => p.gc?.(req, ctx),
      status: async (req) => p.status?.(req, ctx),
    };
  }
  const base = (req: { path: readonly string[]; config: { raw: Readonly<Record<string, unknown>> } }) => ({
    path: req.path,
    config: req.config.raw,
    ...(ctx.env ? { env: ctx.env } : {}),
  });
  const attachment = (req: { containerId: string; ifName: string; netns?: string; args: AddRequest['args'] }) => ({
    containerId: req.containerId,
    ifName: req.ifName,
    args: req.args,
    ...(req.netns ? { netns: req.netns } : {}),
  });
  return {
    add: async (req) => delegate(type, { command: 'ADD', ...base(req), ...attachment(req) }) ?? {},
    del: async (req) => void delegate(type, { command: 'DEL', ...base(req), ...attachment(req) }),
    check: async (req) => void delegate(type, { command: 'CHECK', ...base(req), ...attachment(req) }),
    gc: async (req) =>
      void delegate(type, {
        command: 'GC',
        ...base(req),
        config: withAttachments(req.config.raw, req.validAttachments),
      }),
    status: async (req) => void delegate(type, { command: 'STATUS', ...base(req) }),
  };
}

// The delegate reads the list from its stdin, as the runtime gave it.
function withAttachments(
  raw: Readonly<Record<string, unknown>>,
  valid: readonly CniAttachment[],
): Record<string, unknown> {
  return raw['cni.dev/valid-attachments'] || raw['cni.dev/attachments']
    ? { ...raw }
    : { ...raw, 'cni.dev/valid-attachments': valid };
}
