// A hot (http format) function written against Go's own HTTP code: each
// call is read with http.ReadRequest from stdin and answered with
// http.Response.Write on stdout.  It answers with the SHA-256 of the body,
// the body back, and a few request fields.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
)

func main() {
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	calls := 0
	for {
		req, err := http.ReadRequest(in)
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "read:", err)
			os.Exit(1)
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			fmt.Fprintln(os.Stderr, "body:", err)
			os.Exit(1)
		}
		calls++
		sum := sha256.Sum256(body)
		res := http.Response{
			StatusCode:    201,
			ProtoMajor:    1,
			ProtoMinor:    1,
			Header:        http.Header{},
			ContentLength: int64(len(body)),
			Body:          io.NopCloser(bytes.NewReader(body)),
		}
		res.Header.Set("X-Sha256", hex.EncodeToString(sum[:]))
		res.Header.Set("X-Method", req.Method)
		res.Header.Set("X-Uri", req.RequestURI)
		res.Header.Set("X-Call-Id", req.Header.Get("Fn-Call-Id"))
		res.Header.Set("X-Calls", strconv.Itoa(calls))
		res.Header.Set("X-Pid", strconv.Itoa(os.Getpid()))
		if err := res.Write(out); err != nil {
			os.Exit(1)
		}
		if err := out.Flush(); err != nil {
			os.Exit(1)
		}
	}
}
