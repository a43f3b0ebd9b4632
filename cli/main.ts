import { main } from './berth.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
