"""The Flask hello app: a real framework's per-request cost on top of the server's."""
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello, World!", 200, {"Content-Type": "text/plain"}
