"""A browser session on one keep-alive connection, as request heads: the `session` scenario (wrk/session.lua) and
`callgrind.py --request session` send the same bytes.

A shopper visits a shop: each page is a navigation (Sec-Fetch-Dest: document), then its stylesheets, scripts,
fonts (CORS, with Origin, the stylesheet as Referer), images and XHRs (JSON, cors), each kind with its own Accept,
Sec-Fetch-*, Priority, path and query, as Firefox 132 sends them. A page visited again revalidates what it holds
(If-None-Match, Cache-Control: max-age=0), and the analytics cookie changes every few requests. Deterministic: the
sequence depends on SEED only.

    python bench/session.py            # the sequence's size and what varies
    python bench/session.py PATH       # write it to PATH (the heads one after the other, as wrk/session.lua reads)
"""
import random
import sys

SEED = 24
HOST = "shop.example.com"
ORIGIN = f"https://{HOST}"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
LANG = "en-US,en;q=0.5"
ENCODING = "gzip, deflate, br, zstd"

# kind -> (Accept, Sec-Fetch-Dest, Sec-Fetch-Mode, Priority)
KINDS = {
    "document": ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "document", "navigate",
                 "u=0, i"),
    "style": ("text/css,*/*;q=0.1", "style", "no-cors", "u=2"),
    "script": ("*/*", "script", "no-cors", "u=2"),
    "font": ("application/font-woff2;q=1.0,application/font-woff;q=0.9,*/*;q=0.8", "font", "cors", "u=2"),
    "image": ("image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5", "image", "no-cors",
              "u=5, i"),
    "xhr": ("application/json", "empty", "cors", "u=4"),
}

PAGES = ["/", "/products?category=shoes&sort=price", "/products/42?ref=home&lang=en", "/products/1187",
         "/cart", "/products?category=shoes&sort=price&page=2", "/products/77?ref=related", "/checkout"]
STYLES = ["/static/css/main.css?v=3f2a9c", "/static/css/products.css?v=81be02", "/static/css/print.css?v=3f2a9c"]
SCRIPTS = ["/static/js/vendor.js?v=a91c7e", "/static/js/app.js?v=5d0e44", "/static/js/analytics.js",
           "/static/js/cart.js?v=5d0e44"]
FONTS = ["/static/fonts/inter-regular.woff2", "/static/fonts/inter-bold.woff2"]
XHRS = ["/api/cart", "/api/recommendations?product=42&limit=8", "/api/stock?sku=SH-4471-42",
        "/api/session/ping", "/api/reviews?product=42&page=1"]


class Browser:
    """One tab's state: the page shown, the cookies, the validators of what it holds in its cache."""

    def __init__(self, rnd):
        self.rnd = rnd
        self.page = None
        self.visits = 0                 # analytics cookie: a hit counter and a timestamp that move
        self.stamp = 1733300000
        self.cart = 0
        self.until_cookie = 0
        self.cached = {}                # path -> ETag

    def cookie(self):
        if self.until_cookie <= 0:      # the analytics script rewrites its cookie every few requests
            self.visits += 1
            self.stamp += self.rnd.randint(2, 40)
            self.until_cookie = self.rnd.randint(2, 6)
        self.until_cookie -= 1
        cookie = (f"session=6f1c2a9e8b7d4c3a; theme=dark; _ga=GA1.1.123456789.1700000000; "
                  f"_ga_QX81=GS1.1.{self.stamp - 900}.{self.visits}.1.{self.stamp}.0.0.0")
        return cookie + (f"; cart={self.cart}" if self.cart else "")

    def head(self, kind, path, referer, *, user=False, origin=False, revalidate=False):
        accept, dest, mode, priority = KINDS[kind]
        fields = [("Host", HOST), ("User-Agent", UA), ("Accept", accept), ("Accept-Language", LANG),
                  ("Accept-Encoding", ENCODING)]
        if kind == "xhr":
            fields.append(("X-Requested-With", "XMLHttpRequest"))
        if origin:
            fields.append(("Origin", ORIGIN))
        if referer:
            fields.append(("Referer", referer))
        fields += [("Connection", "keep-alive"), ("Cookie", self.cookie())]
        if kind == "document":
            fields.append(("Upgrade-Insecure-Requests", "1"))
        fields += [("Sec-Fetch-Dest", dest), ("Sec-Fetch-Mode", mode), ("Sec-Fetch-Site", "same-origin")]
        if user:
            fields.append(("Sec-Fetch-User", "?1"))
        etag = self.cached.get(path)
        if etag and revalidate:
            fields += [("If-None-Match", etag), ("Cache-Control", "max-age=0")]
        fields.append(("Priority", priority))
        self.cached.setdefault(path, f'"{self.rnd.getrandbits(40):010x}"')
        lines = "".join(f"{name}: {value}\r\n" for name, value in fields)
        return f"GET {path} HTTP/1.1\r\n{lines}\r\n".encode("latin-1")

    def visit(self, page):
        """The requests of one page view: the document, then what it loads (from cache, mostly, the second time)."""
        rnd = self.rnd
        again = page in self.cached
        referer = ORIGIN + self.page if self.page else None
        out = [self.head("document", page, referer, user=self.page is not None, revalidate=again)]
        here = ORIGIN + page
        first_time = not self.cached.get(STYLES[0])
        for style in STYLES[:2 if "products" not in page else 3]:
            if first_time or rnd.random() < 0.25:
                out.append(self.head("style", style, here, revalidate=not first_time))
        for script in SCRIPTS:
            if first_time or rnd.random() < 0.2:
                out.append(self.head("script", script, here, revalidate=not first_time))
        if first_time:
            out += [self.head("font", font, ORIGIN + STYLES[0], origin=True) for font in FONTS]
        for _ in range(rnd.randint(4, 9)):
            image = f"/media/products/{rnd.randint(1, 400)}/thumb-{rnd.choice((320, 640))}.webp"
            out.append(self.head("image", image, here, revalidate=rnd.random() < 0.1))
        if first_time:
            out.append(self.head("image", "/static/img/logo.svg", ORIGIN + STYLES[0]))
        for xhr in rnd.sample(XHRS, rnd.randint(1, 3)):
            if xhr == "/api/cart" and rnd.random() < 0.5:
                self.cart += 1
            out.append(self.head("xhr", xhr, here))
        self.page = page
        return out


def requests(seed=SEED, pages=12):
    """The session's request heads, in order."""
    rnd = random.Random(seed)
    browser = Browser(rnd)
    out = []
    for i in range(pages):
        out += browser.visit(PAGES[0] if i == 0 else rnd.choice(PAGES))
    return out


def write(path):
    data = b"".join(requests())
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return path
    except OSError:
        pass
    with open(path, "wb") as f:
        f.write(data)
    return path


def main(argv):
    if argv:
        write(argv[0])
        return
    heads = requests()
    sizes = sorted(len(h) for h in heads)
    names = {tuple(line.split(b":")[0] for line in h.split(b"\r\n")[1:-2]) for h in heads}
    print(f"{len(heads)} requests, {sum(sizes)} bytes, head sizes {sizes[0]}-{sizes[-1]} (median "
          f"{sizes[len(sizes) // 2]}), {len(names)} field-name orders, {len(set(heads))} distinct heads")


if __name__ == "__main__":
    main(sys.argv[1:])
