package mdsclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/stage1/abi"
)

// Well-known places of the service, as in rkt 1.x.
const (
	// DefaultPort is the TCP port of the public API.
	DefaultPort = abi.MDSPort
	// DefaultSocket is the unix socket of the registration API.
	DefaultSocket = "/run/rkt/metadata-svc.sock"
)

// Limits of one exchange.
const (
	dialTimeout     = 5 * time.Second
	exchangeTimeout = 30 * time.Second
	// maxBody bounds an answer's body; maxHead its status line and
	// headers.
	maxBody = 64 << 10
	maxHead = 16 << 10
)

// Registered is the answer to a pod registration: where the pod's apps
// reach the public API (rkt 1.x answered with an empty body, and its
// stage1 assumed DefaultPort).
type Registered struct {
	Port int `json:"port"`
}

// ErrNotRegistered is Unregister's error for a pod the service does not
// know (it restarted since, or the pod was unregistered already).
var ErrNotRegistered = errors.New("pod is not registered")

// errUnreachable says the service is not running.
var errUnreachable = errors.New("the metadata service is not running")

// NewToken returns a fresh random pod token: 256 bits, in hex.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("metadata service token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Client talks to the registration API of the service on a unix socket.
type Client struct {
	Socket string
}

// NewClient returns a client of the service listening on socket
// (DefaultSocket when empty).
func NewClient(socket string) *Client {
	if socket == "" {
		socket = DefaultSocket
	}
	return &Client{Socket: socket}
}

// Check tells whether the service answers on its socket, with the error
// rkt run --mds-register gives when it does not.
func (c *Client) Check(ctx context.Context) error {
	conn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	return conn.Close()
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err
		}
		return nil, c.unreachable(err)
	}
	return conn, nil
}

func (c *Client) unreachable(err error) error {
	return errdefs.WithKind(errdefs.KindUnavailable, fmt.Errorf("%w (%s: %w): start it with 'rkt metadata-service', or run the pod without --mds-register", errUnreachable, c.Socket, err))
}

// App is an app's name and image manifest (JSON), to register.
type App struct {
	Name     string
	Manifest []byte
}

// Register registers a pod, its manifest (JSON) and its apps' image
// manifests under token, and returns the public API's port. A failure
// after the pod was registered unregisters it.
func (c *Client) Register(ctx context.Context, uuid, token string, podManifest []byte, apps []App) (int, error) {
	body, err := c.do(ctx, "PUT", "/pods/"+url.PathEscape(uuid)+"?token="+url.QueryEscape(token), podManifest)
	if err != nil {
		return 0, fmt.Errorf("registering pod %s with the metadata service: %w", uuid, err)
	}
	var reg Registered
	if err := json.Unmarshal(body, &reg); err != nil || reg.Port < 1 || reg.Port > 65535 {
		_ = c.Unregister(context.WithoutCancel(ctx), uuid)
		return 0, fmt.Errorf("registering pod %s with the metadata service: the service did not say its port (%q)", uuid, body)
	}
	for _, a := range apps {
		if _, err := c.do(ctx, "PUT", "/pods/"+url.PathEscape(uuid)+"/"+url.PathEscape(a.Name), a.Manifest); err != nil {
			_ = c.Unregister(context.WithoutCancel(ctx), uuid)
			return 0, fmt.Errorf("registering app %s of pod %s with the metadata service: %w", a.Name, uuid, err)
		}
	}
	return reg.Port, nil
}

// Unregister removes a pod from the service.
func (c *Client) Unregister(ctx context.Context, uuid string) error {
	if _, err := c.do(ctx, "DELETE", "/pods/"+url.PathEscape(uuid), nil); err != nil {
		return fmt.Errorf("unregistering pod %s from the metadata service: %w", uuid, err)
	}
	return nil
}

// do sends one request, on a connection of its own, and returns the body
// of a 200 answer. The request is HTTP/1.0, so the service answers with
// a plain body (never chunked) and closes the connection after it.
func (c *Client) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	// The query holds the token: it stays out of messages.
	shown, _, _ := strings.Cut(path, "?")
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// The context ends the exchange (its timeout included): the I/O that
	// fails then is reported as the context's error.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s HTTP/1.0\r\nHost: metadata-service\r\nContent-Length: %d\r\n", method, path, len(body))
	if body != nil {
		req.WriteString("Content-Type: application/json\r\n")
	}
	req.WriteString("\r\n")
	req.Write(body)
	if _, err := conn.Write(req.Bytes()); err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, shown, ctxErr(ctx, err))
	}
	code, status, out, err := readResponse(conn)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, shown, ctxErr(ctx, err))
	}
	switch code {
	case 200:
		return out, nil
	case 404:
		if method == "DELETE" {
			return nil, ErrNotRegistered
		}
	}
	return nil, fmt.Errorf("%s %s: %s: %s", method, shown, status, bytes.TrimSpace(out))
}

// ctxErr prefers the context's error to the connection error it caused.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// readResponse reads an HTTP/1.x answer from r: its status code, its
// status ("404 Not Found") and its body, which ends where Content-Length
// says or, without one, where the connection does. The head is bounded
// by maxHead, the body by maxBody; chunked bodies are refused (an
// HTTP/1.0 request gets none).
func readResponse(r io.Reader) (int, string, []byte, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxHead), 4096)
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return 0, "", nil, fmt.Errorf("reading the answer: %w", unexpectedEOF(err))
	}
	proto, status, ok := strings.Cut(line, " ")
	if !ok || (proto != "HTTP/1.0" && proto != "HTTP/1.1") {
		return 0, "", nil, fmt.Errorf("malformed answer %q", truncate(line))
	}
	codeText, _, _ := strings.Cut(status, " ")
	code, err := strconv.Atoi(codeText)
	if err != nil || len(codeText) != 3 || code < 100 {
		return 0, "", nil, fmt.Errorf("malformed status %q", truncate(status))
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return 0, "", nil, fmt.Errorf("reading the answer's headers: %w", unexpectedEOF(err))
	}
	if te := hdr.Get("Transfer-Encoding"); te != "" && !strings.EqualFold(te, "identity") {
		return 0, "", nil, fmt.Errorf("answer with unsupported transfer encoding %q", truncate(te))
	}
	// What the bounded head reader buffered past the headers is the
	// start of the body; the rest comes from r itself.
	buffered, _ := br.Peek(br.Buffered())
	rest := io.MultiReader(bytes.NewReader(buffered), r)
	length := int64(-1)
	if cl := hdr.Values("Content-Length"); len(cl) > 0 {
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if err != nil || n < 0 || len(cl) > 1 {
			return 0, "", nil, fmt.Errorf("answer with a bad Content-Length %q", truncate(strings.Join(cl, ",")))
		}
		if n > maxBody {
			return 0, "", nil, fmt.Errorf("answer of %d bytes, more than %d", n, maxBody)
		}
		length = n
	}
	var body []byte
	if length >= 0 {
		body = make([]byte, length)
		if _, err := io.ReadFull(rest, body); err != nil {
			return 0, "", nil, fmt.Errorf("reading the answer's body: %w", unexpectedEOF(err))
		}
	} else {
		body, err = io.ReadAll(io.LimitReader(rest, maxBody+1))
		if err != nil {
			return 0, "", nil, fmt.Errorf("reading the answer's body: %w", err)
		}
		if len(body) > maxBody {
			return 0, "", nil, fmt.Errorf("answer of more than %d bytes", maxBody)
		}
	}
	return code, status, body, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// truncate shortens what the service sent for an error message.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
