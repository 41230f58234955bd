package mdsclient

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rkt/rkt/internal/errdefs"
)

func TestReadResponse(t *testing.T) {
	big := strings.Repeat("x", maxBody+1)
	for _, tc := range []struct {
		name, in string
		code     int
		status   string
		body     string
		err      string
	}{
		{name: "content length", in: "HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\n{\"port\":2375}", code: 200, status: "200 OK", body: `{"port":2375}`},
		{name: "body past content length ignored", in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokjunk", code: 200, status: "200 OK", body: "ok"},
		{name: "body to end of stream", in: "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such pod\n", code: 404, status: "404 Not Found", body: "no such pod\n"},
		{name: "empty body", in: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", code: 200, status: "200 OK", body: ""},
		{name: "bare LF lines", in: "HTTP/1.0 200 OK\nContent-Length: 1\n\nx", code: 200, status: "200 OK", body: "x"},
		{name: "large body within bound", in: "HTTP/1.0 200 OK\r\n\r\n" + big[:maxBody], code: 200, status: "200 OK", body: big[:maxBody]},
		{name: "nothing", in: "", err: "unexpected EOF"},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH\r\n\r\n", err: "malformed answer"},
		{name: "HTTP/2", in: "HTTP/2 200\r\n\r\n", err: "malformed answer"},
		{name: "bad code", in: "HTTP/1.1 2x0 OK\r\n\r\n", err: "malformed status"},
		{name: "short code", in: "HTTP/1.1 20 OK\r\n\r\n", err: "malformed status"},
		{name: "headers cut", in: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", err: "headers"},
		{name: "body cut", in: "HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\nshort", err: "unexpected EOF"},
		{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", err: "transfer encoding"},
		{name: "negative length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: "bad Content-Length"},
		{name: "two lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy", err: "bad Content-Length"},
		{name: "huge length", in: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", err: "more than"},
		{name: "endless body", in: "HTTP/1.0 200 OK\r\n\r\n" + big, err: "more than"},
		{name: "endless head", in: "HTTP/1.0 200 OK\r\nX: " + strings.Repeat("y", maxHead) + "\r\n\r\n", err: "headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, status, body, err := readResponse(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("readResponse: %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || status != tc.status || string(body) != tc.body {
				t.Errorf("readResponse = %d, %q, %.40q; want %d, %q, %.40q", code, status, body, tc.code, tc.status, tc.body)
			}
		})
	}
}

func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.0 200 OK\r\nContent-Length: 13\r\n\r\n{\"port\":2375}",
		"HTTP/1.1 404 Not Found\r\n\r\nno",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		code, _, body, err := readResponse(strings.NewReader(string(in)))
		if err != nil {
			return
		}
		if code < 100 || code > 999 || len(body) > maxBody || len(body) > len(in) {
			t.Fatalf("readResponse(%q) = %d, %d bytes of body", in, code, len(body))
		}
	})
}

// serveOnce answers one connection on a new unix socket with answer,
// after reading the request's head, and sends the request it read on
// the returned channel.
func serveOnce(t *testing.T, answer string) (string, <-chan string) {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "mds.sock")
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	got := make(chan string, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			close(got)
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			head.WriteString(line)
			if err != nil || line == "\r\n" {
				break
			}
		}
		got <- head.String()
		if answer == "" {
			_, _ = io.Copy(io.Discard, conn) // hang until the client gives up
			return
		}
		_, _ = io.WriteString(conn, answer)
	}()
	return socket, got
}

func TestUnregister(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		err          error
		errText      string
	}{
		{name: "done", answer: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{name: "unknown pod", answer: "HTTP/1.0 404 Not Found\r\n\r\npod not registered\n", err: ErrNotRegistered},
		{name: "refused", answer: "HTTP/1.0 400 Bad Request\r\n\r\nbad pod UUID\n", errText: "DELETE /pods/a%20b: 400 Bad Request: bad pod UUID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			socket, got := serveOnce(t, tc.answer)
			err := NewClient(socket).Unregister(t.Context(), "a b")
			switch {
			case tc.err != nil && !errors.Is(err, tc.err):
				t.Errorf("Unregister: %v, want %v", err, tc.err)
			case tc.errText != "" && (err == nil || !strings.Contains(err.Error(), tc.errText)):
				t.Errorf("Unregister: %v, want an error with %q", err, tc.errText)
			case tc.err == nil && tc.errText == "" && err != nil:
				t.Errorf("Unregister: %v", err)
			}
			if req := <-got; !strings.HasPrefix(req, "DELETE /pods/a%20b HTTP/1.0\r\n") || !strings.Contains(req, "\r\nContent-Length: 0\r\n") {
				t.Errorf("request head:\n%s", req)
			}
		})
	}
}

func TestRegisterKeepsTokenOutOfErrors(t *testing.T) {
	socket, got := serveOnce(t, "HTTP/1.0 500 Internal Server Error\r\n\r\nboom")
	_, err := NewClient(socket).Register(t.Context(), "u", "secret-token", []byte(`{}`), nil)
	if err == nil || strings.Contains(err.Error(), "secret-token") || !strings.Contains(err.Error(), "PUT /pods/u: 500 Internal Server Error: boom") {
		t.Errorf("Register: %v", err)
	}
	if req := <-got; !strings.HasPrefix(req, "PUT /pods/u?token=secret-token HTTP/1.0\r\n") || !strings.Contains(req, "\r\nContent-Length: 2\r\n") {
		t.Errorf("request head:\n%s", req)
	}
}

func TestNotRunning(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	for name, err := range map[string]error{
		"check":      c.Check(t.Context()),
		"unregister": c.Unregister(t.Context(), "u"),
	} {
		if !errdefs.Is(err, errdefs.KindUnavailable) || !errors.Is(err, errUnreachable) || !strings.Contains(err.Error(), "rkt metadata-service") {
			t.Errorf("%s: %v, want the service-not-running error", name, err)
		}
	}
}

func TestCanceled(t *testing.T) {
	socket, _ := serveOnce(t, "") // never answers
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := NewClient(socket).Unregister(ctx, "u")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Unregister of a service that does not answer: %v, want the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Unregister gave up after %v", d)
	}
}
