import { describe, expect, it } from 'vitest';
import { NO_RULES, normalizeRules } from './model.js';
import {
  elementId,
  NFT_CHAINS,
  NFT_SETS,
  nftBaseVersion,
  nftElements,
  nftProblems,
  parseNftTableJson,
  renderNftBase,
  renderNftChange,
  renderNftChangesOnBase,
  renderNftTransaction,
} from './nftables-render.js';
import {
  CTR,
  container,
  containerPorts,
  containerV6,
  NET,
  NET2,
  networkMasq,
  networkOpen,
  networkV6,
} from './testdata/fixtures.js';
import { expectGolden } from './testdata/golden.js';

describe('nftables rendering (golden)', () => {
  it('base', () => expectGolden('nft-base', renderNftTransaction([])));
  it('a network with masquerade', () =>
    expectGolden('nft-network-masquerade', renderNftTransaction([{ owner: NET, before: null, after: networkMasq }])));
  it('a network with isolation off', () =>
    expectGolden(
      'nft-network-no-isolation',
      renderNftTransaction([{ owner: NET2, before: null, after: networkOpen }]),
    ));
  it('a container add', () =>
    expectGolden('nft-container-add', renderNftTransaction([{ owner: CTR, before: null, after: container }])));
  it('a container delete', () =>
    expectGolden('nft-container-delete', renderNftTransaction([{ owner: CTR, before: containerPorts, after: null }])));
  it('a container changed: only what goes is deleted', () =>
    expectGolden(
      'nft-container-replace',
      renderNftTransaction([
        {
          owner: CTR,
          before: containerPorts,
          after: normalizeRules({
            masquerade: [{ source: '10.89.0.5', subnet: '10.89.0.0/24' }],
            ports: [{ protocol: 'tcp', hostPort: 8080, containerIP: '10.89.0.5', containerPort: 8000 }],
          }),
        },
      ]),
    ));
  it('v6', () =>
    expectGolden(
      'nft-v6',
      renderNftTransaction([
        { owner: NET, before: null, after: networkV6 },
        { owner: CTR, before: null, after: containerV6 },
      ]),
    ));
  it('port mappings', () =>
    expectGolden('nft-ports', renderNftTransaction([{ owner: CTR, before: null, after: containerPorts }])));
});

describe('nftables rendering', () => {
  it('declares every set the chains use, and each chain once', () => {
    const base = renderNftBase().join('\n');
    const used = new Set([...base.matchAll(/@(\w+)/g)].map((m) => m[1]));
    expect([...used].sort()).toEqual(NFT_SETS.map((s) => s.name).sort());
    for (const c of NFT_CHAINS)
      expect(base.match(new RegExp(`add chain inet berth ${c.name}\\b`, 'g'))).toHaveLength(1);
  });

  it('keeps the elements of a bridge another owner still holds when one owner lets it go', () => {
    const shared = networkMasq.bridges;
    const text = renderNftChange({ owner: NET, before: networkMasq, after: null, sharedBridges: shared }).join('\n');
    expect(text).not.toMatch(/delete element inet berth (bridges|isolated|hairpin4|intra) /);
    expect(text).toMatch(/delete element inet berth masqnet4 /);
    const alone = renderNftChange({ owner: NET, before: networkMasq, after: null }).join('\n');
    expect(alone).toMatch(/delete element inet berth bridges \{ "berth0" \}/);
  });

  it('adds an element once even when rules repeat it', () => {
    const twice = renderNftTransaction([
      {
        owner: CTR,
        before: null,
        after: { ...container, masquerade: [...container.masquerade, ...container.masquerade] },
      },
    ]);
    expect(twice.match(/add element inet berth masq4 /g)).toHaveLength(1);
  });

  it('deletes blind with add-then-delete, exactly with the kernel state', () => {
    const blind = renderNftTransaction([{ owner: CTR, before: container, after: null }]);
    expect(blind).toContain(
      'add element inet berth masq4 { 10.89.0.5 }\ndelete element inet berth masq4 { 10.89.0.5 }',
    );
    const state = parseNftTableJson(
      JSON.stringify({
        nftables: [
          { set: { name: 'masq4', type: 'ipv4_addr', elem: ['10.89.0.5'] } },
          { set: { name: 'masq4_keep', type: ['ipv4_addr', 'ipv4_addr'] } },
        ],
      }),
    );
    const exact = renderNftTransaction([{ owner: CTR, before: container, after: null }], state);
    expect(exact).toContain('\ndelete element inet berth masq4 { 10.89.0.5 }\n');
    expect(exact).not.toContain('element inet berth masq4_keep');
    expect(exact).not.toMatch(/add element inet berth masq/);
    const none = renderNftTransaction([{ owner: CTR, before: container, after: null }], null);
    expect(none).toBe(renderNftTransaction([]));
  });

  it("sends the changes alone behind a check of the base's version, which the base itself leaves", () => {
    const v = nftBaseVersion();
    expect(renderNftBase().slice(-2)).toEqual([
      'flush set inet berth base_version',
      `add element inet berth base_version { ${v} }`,
    ]);
    const text = renderNftChangesOnBase([{ owner: CTR, before: null, after: container }]);
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe(`add element inet berth base_version { ${v} }`);
    expect(renderNftBase()).toContain('add set inet berth base_version { type mark; size 1; }');
    expect(lines.slice(1)).toEqual(renderNftChange({ owner: CTR, before: null, after: container }));
    expect(text).not.toMatch(/add (table|chain|set|rule)|flush/);
  });

  it('maps a port to one element keyed by protocol and port, or by host address too', () => {
    const els = nftElements(containerPorts).map(elementId);
    expect(els).toContain('ports4 tcp . 8080 : 10.89.0.5 . 80');
    expect(els).toContain('hostports4 127.0.0.1 . tcp . 8443 : 10.89.0.5 . 443');
    expect(els).toContain('ports6 tcp . 8080 : fd00:89::5 . 80');
    expect(els).toContain('hostports6 2001:db8::10 . udp . 5353 : fd00:89::5 . 53');
  });
});

// As nft 1.0.6 prints `nft -j list table inet berth` (trimmed to what is read).
const LISTED = {
  nftables: [
    { metainfo: { version: '1.0.6', json_schema_version: 1 } },
    { table: { family: 'inet', name: 'berth', handle: 1 } },
    {
      set: {
        family: 'inet',
        name: 'bridges',
        table: 'berth',
        type: 'ifname',
        elem: [{ elem: { val: 'berth0', comment: 'berth network net1' } }],
      },
    },
    { set: { name: 'intra', type: ['ifname', 'ifname'], elem: [{ concat: ['berth0', 'berth0'] }] } },
    { set: { name: 'masq4', type: 'ipv4_addr', elem: ['10.89.0.5'] } },
    {
      set: {
        name: 'masq4_keep',
        type: ['ipv4_addr', 'ipv4_addr'],
        flags: ['interval'],
        elem: [{ concat: ['10.89.0.5', { prefix: { addr: '10.89.0.0', len: 24 } }] }],
      },
    },
    {
      map: {
        name: 'ports4',
        type: ['inet_proto', 'inet_service'],
        map: 'ipv4_addr . inet_service',
        elem: [
          [
            { elem: { val: { concat: ['tcp', 8080] }, comment: 'berth container 3f2a9c1e7b' } },
            { concat: ['10.89.0.5', 80] },
          ],
        ],
      },
    },
    {
      map: {
        name: 'hostports4',
        type: ['ipv4_addr', 'inet_proto', 'inet_service'],
        map: 'ipv4_addr . inet_service',
        elem: [[{ concat: ['127.0.0.1', 6, 8443] }, { concat: ['10.89.0.5', 444] }]],
      },
    },
    {
      chain: {
        family: 'inet',
        table: 'berth',
        name: 'forward',
        type: 'filter',
        hook: 'forward',
        prio: 0,
        policy: 'accept',
      },
    },
    { rule: { chain: 'forward', expr: [] } },
    { chain: { name: 'postrouting', type: 'nat', hook: 'postrouting', prio: 100 } },
  ],
};

describe('reading nft JSON back', () => {
  const state = parseNftTableJson(JSON.stringify(LISTED));

  it('gives elements in the text berth renders', () => {
    expect([...(state.sets.get('bridges')?.keys() ?? [])]).toEqual(['"berth0"']);
    expect([...(state.sets.get('intra')?.keys() ?? [])]).toEqual(['"berth0" . "berth0"']);
    expect([...(state.sets.get('masq4_keep')?.keys() ?? [])]).toEqual(['10.89.0.5 . 10.89.0.0/24']);
    expect(state.sets.get('ports4')?.get('tcp . 8080')).toBe('10.89.0.5 . 80');
    expect(state.sets.get('hostports4')?.get('127.0.0.1 . tcp . 8443')).toBe('10.89.0.5 . 444');
    expect(state.chains.get('forward')).toEqual({ type: 'filter', hook: 'forward', prio: 0, rules: 1 });
  });

  it('names what is missing or different', () => {
    const problems = nftProblems(state, containerPorts);
    expect(problems).toContain('chain inet berth forward has 1 rule(s), berth expects 5');
    expect(problems).toContain('chain inet berth prerouting does not exist');
    expect(problems).toContain('set inet berth isolated does not exist');
    expect(problems).toContain(
      'element hostports4 127.0.0.1 . tcp . 8443 maps to 10.89.0.5 . 444, berth expects 10.89.0.5 . 443',
    );
    expect(problems).not.toContain(expect.stringContaining('ports4 tcp . 8080'));
    expect(problems).not.toContain(expect.stringContaining('masq4 10.89.0.5'));
    expect(nftProblems(null, NO_RULES)).toEqual(['table inet berth does not exist']);
    expect(problems).toContain(
      `set inet berth base_version holds nothing, not this berth's base version ${nftBaseVersion()} (run \`berth firewall reload\`)`,
    );
  });

  it('refuses text that is not nft JSON', () => {
    expect(() => parseNftTableJson('{}')).toThrow(/nftables/);
  });
});
