//go:build !rktfront

package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rkt/rkt/internal/config"
	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/trust"
)

// rkt trust's key downloads go through the client of image downloads:
// the auth.d credentials of the key's host, over https only.
func TestReadTrustKeyDownload(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/auth":
			if r.Header.Get("Authorization") != "Bearer tok" {
				http.Error(w, "no credentials", http.StatusUnauthorized)
				return
			}
			_, _ = w.Write([]byte("key with credentials"))
		case "/key":
			_, _ = w.Write([]byte("key"))
		case "/big":
			_, _ = w.Write(make([]byte, trust.MaxKeySize+1))
		default:
			http.NotFound(w, r)
		}
	})
	tlsSrv := httptest.NewTLSServer(handler)
	defer tlsSrv.Close()
	plainSrv := httptest.NewServer(handler)
	defer plainSrv.Close()
	u, err := url.Parse(tlsSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	auth := &config.Config{Auth: map[string]config.Auth{
		u.Hostname(): {Domain: u.Hostname(), Type: "oauth", Credentials: config.Credentials{Token: "tok"}},
	}}
	unknown := &config.Config{Auth: map[string]config.Auth{
		u.Hostname(): {Domain: u.Hostname(), Type: "digest", Credentials: config.Credentials{User: "u", Password: "p"}},
	}}
	tests := []struct {
		name      string
		cfg       *config.Config
		src       string
		allowHTTP bool
		want      string
		wantErr   string
		wantKind  errdefs.Kind
	}{
		{name: "https with auth.d credentials", cfg: auth, src: tlsSrv.URL + "/auth", want: "key with credentials"},
		{name: "https without credentials", src: tlsSrv.URL + "/auth", wantErr: "401"},
		{name: "plain key", cfg: auth, src: tlsSrv.URL + "/key", want: "key"},
		{name: "credentials never over http", cfg: auth, src: plainSrv.URL + "/auth", allowHTTP: true, wantErr: "401"},
		{name: "http refused", src: plainSrv.URL + "/key", wantErr: "--insecure-allow-http", wantKind: errdefs.KindInvalidArgument},
		{name: "http allowed", src: plainSrv.URL + "/key", allowHTTP: true, want: "key"},
		{name: "not found", src: tlsSrv.URL + "/none", wantErr: "404"},
		{name: "too large", src: tlsSrv.URL + "/big", wantErr: "larger than 1 MiB", wantKind: errdefs.KindTooLarge},
		{name: "unknown auth type", cfg: unknown, src: tlsSrv.URL + "/key", wantErr: `unknown auth type "digest"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &app{cfg: tc.cfg}
			if err := a.insecure.Set("tls"); err != nil {
				t.Fatal(err)
			}
			got, err := readTrustKey(context.Background(), a.keyFetcher(tc.allowHTTP), tc.src, tc.allowHTTP)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("readTrustKey = %q, %v; want an error with %q", got, err, tc.wantErr)
				}
				if tc.wantKind != errdefs.KindUnknown && !errdefs.Is(err, tc.wantKind) {
					t.Errorf("error %v is not %v", err, tc.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("readTrustKey = %q, want %q", got, tc.want)
			}
		})
	}
}
