#!/usr/bin/env python3
"""A tiny web app: counts visits in PostgreSQL and says which server answered.
Configuration comes from /etc/webapp.env (written by the recipe)."""
import http.server
import os
import socket

import psycopg2

DSN = "host={DB_HOST} dbname=webapp user=webapp password={DB_PASSWORD} connect_timeout=5".format(
    **os.environ)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body = b"ok\n"
        else:
            with psycopg2.connect(DSN) as conn, conn.cursor() as cur:
                cur.execute("INSERT INTO visits DEFAULT VALUES RETURNING id")
                visit = cur.fetchone()[0]
            body = "visit {} served by {}\n".format(visit, socket.gethostname()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
