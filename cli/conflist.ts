/**
 * The example network config `berth install-plugins --conf` writes: berth's
 * bridge with its in-process IPAM, then loopback. The same text is kept in
 * conf/berth-bridge.conflist for readers; a test keeps the two equal. It lives
 * here too so that an installed berth, without its source tree, can write it.
 */
export const EXAMPLE_CONFLIST_NAME = 'berth-bridge.conflist';

export const EXAMPLE_CONFLIST = {
  cniVersion: '1.1.0',
  name: 'berth',
  plugins: [
    {
      type: 'berth-bridge',
      bridge: 'berth0',
      isGateway: true,
      ipMasq: true,
      hairpinMode: true,
      ipam: {
        type: 'berth-ipam',
        ranges: [[{ subnet: '10.87.0.0/16', gateway: '10.87.0.1' }]],
        routes: [{ dst: '0.0.0.0/0' }],
      },
    },
    { type: 'berth-loopback' },
  ],
} as const;

export const exampleConflistText = () => `${JSON.stringify(EXAMPLE_CONFLIST, null, 2)}\n`;
