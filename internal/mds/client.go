package mds

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rkt/rkt/internal/errdefs"
)

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
	http   *http.Client
}

// NewClient returns a client of the service listening on socket
// (DefaultSocket when empty).
func NewClient(socket string) *Client {
	if socket == "" {
		socket = DefaultSocket
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	return &Client{Socket: socket, http: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "unix", socket)
			},
			DisableKeepAlives: true,
		},
	}}
}

// Check tells whether the service answers on its socket, with the error
// rkt run --mds-register gives when it does not.
func (c *Client) Check(ctx context.Context) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if err != nil {
		return c.unreachable(err)
	}
	return conn.Close()
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
	body, err := c.do(ctx, http.MethodPut, "/pods/"+url.PathEscape(uuid)+"?token="+url.QueryEscape(token), podManifest)
	if err != nil {
		return 0, fmt.Errorf("registering pod %s with the metadata service: %w", uuid, err)
	}
	var reg Registered
	if err := json.Unmarshal(body, &reg); err != nil || reg.Port < 1 || reg.Port > 65535 {
		_ = c.Unregister(context.WithoutCancel(ctx), uuid)
		return 0, fmt.Errorf("registering pod %s with the metadata service: the service did not say its port (%q)", uuid, body)
	}
	for _, a := range apps {
		if _, err := c.do(ctx, http.MethodPut, "/pods/"+url.PathEscape(uuid)+"/"+url.PathEscape(a.Name), a.Manifest); err != nil {
			_ = c.Unregister(context.WithoutCancel(ctx), uuid)
			return 0, fmt.Errorf("registering app %s of pod %s with the metadata service: %w", a.Name, uuid, err)
		}
	}
	return reg.Port, nil
}

// ErrNotRegistered is Unregister's error for a pod the service does not
// know (it restarted since, or the pod was unregistered already).
var ErrNotRegistered = errors.New("pod is not registered")

// Unregister removes a pod from the service.
func (c *Client) Unregister(ctx context.Context, uuid string) error {
	if _, err := c.do(ctx, http.MethodDelete, "/pods/"+url.PathEscape(uuid), nil); err != nil {
		return fmt.Errorf("unregistering pod %s from the metadata service: %w", uuid, err)
	}
	return nil
}

// do sends one request and returns the body of a 200 answer (at most 64
// KiB of it).
func (c *Client) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://metadata-service"+path, rd)
	if err != nil {
		return nil, err
	}
	// The query holds the token: it stays out of messages.
	shown, _, _ := strings.Cut(path, "?")
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, c.unreachable(op.Err)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s %s: %w", method, shown, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return out, nil
	case http.StatusNotFound:
		if method == http.MethodDelete {
			return nil, ErrNotRegistered
		}
	}
	return nil, fmt.Errorf("%s %s: %s: %s", method, shown, resp.Status, bytes.TrimSpace(out))
}
