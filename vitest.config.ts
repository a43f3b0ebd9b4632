import { defineConfig } from 'vitest/config';

/**
 * The test files that run the built CNI plugins: run twice, through the daemon (the plugins' default)
 * and in-process (BERTH_DAEMON=0), so both paths stay the same. parallel.test.ts (100 ADDs at once,
 * 2 minutes) runs through the daemon only, to keep CI short.
 */
const PLUGIN_TESTS = [
  'test/kernel/attachments.test.ts',
  'test/kernel/bandwidth.test.ts',
  'test/kernel/cni-bridge.test.ts',
  'test/kernel/cni-dns.test.ts',
  'test/kernel/cni-ipam.test.ts',
  'test/kernel/cni-loopback.test.ts',
  'test/kernel/ports.test.ts',
  'test/kernel/host-netns.test.ts',
  'test/kernel/macvlan.test.ts',
  'plugins/ipam/ipam.e2e.test.ts',
];

export default defineConfig({
  test: {
    exclude: ['node_modules/**', 'dist/**'],
    // Kernel tests create namespaces and firewall rules; files run one at a time to keep them apart.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    globalSetup: ['test/helpers/global-daemons.ts'],
    projects: [
      { extends: true, test: { name: 'daemon', include: ['**/*.test.ts'], sequence: { groupOrder: 1 } } },
      {
        extends: true,
        test: {
          name: 'in-process',
          include: PLUGIN_TESTS,
          env: { BERTH_DAEMON: '0' },
          // After the other project, never beside it (a group order of 0 would run last, not first).
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
