import type { Argv, CommandModule } from 'yargs';
import { buildTopology } from '../../network/topology.js';
import { type GlobalArgs, openController } from '../context.js';
import { toDot, toTree } from '../graph.js';
import { print, printJson } from '../output.js';
import { renderSvg } from '../svg.js';

interface InspectArgs extends GlobalArgs {
  graph: boolean;
  svg?: string;
  json: boolean;
}

export const inspectCommand: CommandModule<GlobalArgs, InspectArgs> = {
  command: 'inspect',
  describe: 'show the whole topology: networks, bridges, sandboxes, endpoints and addresses',
  builder: (y) =>
    y
      .option('graph', { type: 'boolean', default: false, describe: 'print it as a Graphviz (dot) graph' })
      .option('svg', { type: 'string', describe: 'also draw it into this SVG file (needs dot, from graphviz)' })
      .option('json', {
        type: 'boolean',
        default: false,
        describe: 'print the graph as JSON: {nodes, edges} (wins over --graph)',
      })
      .example('$0 inspect', 'an outline: each network with its endpoints, then the sandboxes')
      .example('$0 inspect --graph | dot -Tpng > berth.png', 'a picture, with any DOT renderer')
      .example(
        '$0 inspect --graph --svg berth.svg',
        'the dot text on stdout and berth.svg beside it',
      ) as Argv<InspectArgs>,
  handler: async (argv) => {
    const ctl = await openController(argv, 'inspect');
    const topology = buildTopology({
      networks: ctl.networks().map((n) => n.record),
      sandboxes: ctl.sandboxes().map((s) => s.record),
      endpoints: ctl.endpointRecords(),
    });
    const dot = toDot(topology);
    if (argv.svg !== undefined) renderSvg(dot, argv.svg);
    if (argv.json) printJson(topology);
    else if (argv.graph) print(dot);
    else if (argv.svg === undefined) print(toTree(topology));
  },
};
