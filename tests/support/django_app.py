"""A small Django project in one module, for the framework tests (tests/test_http2.py): the same routes as
tests/support/flask_app.py (forms, JSON, cookies, uploads, redirects with absolute URLs, a streamed answer, an error),
with Django's own setup() and request handling."""
import hashlib
import json

import django
from django.conf import settings

settings.configure(
    DEBUG=False, SECRET_KEY="tests-only", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, USE_TZ=True,
    MIDDLEWARE=[], INSTALLED_APPS=[], LOGGING_CONFIG=None,
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


def index(request):
    return HttpResponse("django ok")


def request_info(request):
    return JsonResponse(dict(method=request.method, path=request.path, args={k: request.GET.getlist(k)
                                                                             for k in request.GET},
                             url=request.build_absolute_uri(), remote=request.META.get("REMOTE_ADDR"),
                             scheme=request.scheme, host=request.get_host(), ua=request.headers.get("User-Agent"),
                             custom=request.headers.get("X-Custom"), cookies=request.COOKIES))


def form(request):
    return JsonResponse(dict(form={k: request.POST.getlist(k) for k in request.POST},
                             args={k: request.GET.get(k) for k in request.GET}))


def json_body(request):
    return JsonResponse(dict(got=json.loads(request.body), length=int(request.META.get("CONTENT_LENGTH") or 0)))


def upload(request):
    f = request.FILES["file"]
    data = f.read()
    return JsonResponse(dict(name=f.name, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                             note=request.POST.get("note")))


def cookie(request):
    resp = JsonResponse(dict(seen=request.COOKIES.get("visit")))
    resp.set_cookie("visit", "1")
    resp.set_cookie("theme", "dark")
    return resp


def go(request):
    return HttpResponseRedirect(request.build_absolute_uri("/"))


def stream(request):
    return StreamingHttpResponse((f"line {i}\n" for i in range(200)), content_type="text/plain")


def boom(request):
    raise RuntimeError("django-boom")


urlpatterns = [
    path("", index), path("request", request_info), path("form", form), path("json", json_body),
    path("upload", upload), path("cookie", cookie), path("redirect", go), path("stream", stream), path("boom", boom),
]

app = get_wsgi_application()
