"""Background work: a database task queue (the embedded default), the scheduler that enqueues
each periodic job once per due time however many schedulers run, and leases that let one
process of many hold a role (a bot's long polling, a bot's attachment fetching)."""
