"""`dcvsr upscale --cluster`: a job's shots rendered in parallel on a Ray cluster, joined as one file.

Shots (the spans between scene cuts) share no state: TAP's carried state never crosses a cut and
the noise counts frames from a shot's first frame. So each shot can be rendered on any worker,
in any order, into the very chunks a one-machine render writes (job/render.py), and the job's
journal, chunk format and join are job/'s own. Ray does the scheduling, the worker processes
and the retries; this package says what a shot is (shots.py), what a worker holds and does
(worker.py), how to reach a cluster (connect.py) and how a job is driven (driver.py).
"""
