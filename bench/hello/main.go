// Command hello is the reference ceiling for bench/run.sh: a minimal net/http
// server that answers every request (POST /v1/verifications and everything
// else) with a fixed JSON body the size and shape of a real 201 from
// ringfence, so wrk does the same work against it as against ringfence.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"strconv"
)

// body has the fields and size of ringfence's 201 to POST /v1/verifications.
var body = []byte(`{"id":"ve_bdmjag4si3ude42574noj2jpry","status":"pending","channel":"sms",` +
	`"purpose":"signup","to":"+1 ••• ••• 0123","country":"US","line_type":"fixed_line_or_mobile",` +
	`"send_count":1,"created_at":"2026-11-22T09:00:00Z","expires_at":"2026-11-22T09:05:00Z"}` + "\n")

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	flag.Parse()
	length := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the request body as ringfence does, so keep-alive works the same.
		io.Copy(io.Discard, r.Body)
		hdr := w.Header()
		hdr.Set("Content-Type", "application/json")
		hdr.Set("Content-Length", length)
		status := http.StatusOK
		if r.Method == http.MethodPost && r.URL.Path == "/v1/verifications" {
			status = http.StatusCreated
		}
		w.WriteHeader(status)
		w.Write(body)
	})
	log.Fatal(http.ListenAndServe(*addr, h))
}
