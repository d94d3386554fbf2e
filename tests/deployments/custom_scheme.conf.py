# A proxy that says HTTPS with a header of its own (secure_scheme_headers other than gunicorn's three)
import os

bind = os.environ["TEST_BIND"]
forwarded_allow_ips = "127.0.0.1"
secure_scheme_headers = {"X-SCHEME": "https"}
