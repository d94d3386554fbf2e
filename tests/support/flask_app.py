"""A small Flask app for the framework tests behind nginx (tests/test_uwsgi_nginx.py): forms, JSON, cookies,
uploads, redirects with absolute URLs, a streamed answer."""
import hashlib

from flask import Flask, Response, jsonify, redirect, request, url_for

app = Flask(__name__)


@app.get("/")
def index():
    return "flask ok"


@app.get("/request")
def request_info():
    return jsonify(method=request.method, path=request.path, args=request.args.to_dict(flat=False),
                   url=request.url, remote=request.remote_addr, scheme=request.scheme, host=request.host,
                   ua=request.headers.get("User-Agent"), custom=request.headers.get("X-Custom"),
                   cookies=request.cookies)


@app.post("/form")
def form():
    return jsonify(form=request.form.to_dict(flat=False), args=request.args.to_dict())


@app.post("/json")
def json_body():
    return jsonify(got=request.get_json(), length=request.content_length)


@app.post("/upload")
def upload():
    f = request.files["file"]
    data = f.read()
    return jsonify(name=f.filename, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                   note=request.form.get("note"))


@app.get("/cookie")
def cookie():
    resp = jsonify(seen=request.cookies.get("visit"))
    resp.set_cookie("visit", "1")
    resp.set_cookie("theme", "dark")
    return resp


@app.get("/redirect")
def go():
    return redirect(url_for("index", _external=True))


@app.get("/stream")
def stream():
    return Response((f"line {i}\n" for i in range(200)), mimetype="text/plain")


@app.get("/boom")
def boom():
    raise RuntimeError("flask-boom")
