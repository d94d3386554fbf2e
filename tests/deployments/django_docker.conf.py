# A gunicorn.conf.py as Django-on-Docker guides write it (the bind is the test's, the rest as found)
import multiprocessing
import os

bind = os.environ["TEST_BIND"]
workers = min(multiprocessing.cpu_count() * 2 + 1, 2)
worker_class = "gthread"
threads = 4
worker_tmp_dir = "/dev/shm"
timeout = 120
graceful_timeout = 30
keepalive = 5
max_requests = 1000
max_requests_jitter = 50
accesslog = "-"
errorlog = "-"
loglevel = "info"
capture_output = True
forwarded_allow_ips = "*"
secure_scheme_headers = {"X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https", "X-FORWARDED-SSL": "on"}
proxy_allow_ips = "*"
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190


def post_fork(server, worker):
    server.log.info("Worker spawned (pid: %s)", worker.pid)


def pre_request(worker, req):
    worker.log.debug("%s %s", req.method, req.path)


def worker_exit(server, worker):
    server.log.info("Worker exiting (pid: %s)", worker.pid)
