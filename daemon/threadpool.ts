// Imported first by the daemon's entry, before anything queues work on libuv's pool (which reads
// UV_THREADPOOL_SIZE once, when it starts): a netlink exchange (netlink/src/binding.cc) holds a pool
// thread while the kernel answers, so concurrent DELs could take the default 4 threads and leave the
// fsyncs of ADDs waiting behind them. A size the environment sets is kept.
process.env.UV_THREADPOOL_SIZE ??= '16';
