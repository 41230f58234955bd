package testutil

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// TokenAccess is one entry of the "access" claim of a registry token: the
// actions granted on one resource.
type TokenAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// TokenRequest records one request that reached a Registry's token server.
type TokenRequest struct {
	// Method is GET (the Docker token protocol) or POST (the OAuth2 form).
	Method string
	// User is the authenticated user name, "" for anonymous requests.
	User string
	// Scopes are the scopes asked for, as sent ("repository:foo:pull,push").
	Scopes []string
	// Status is the HTTP status answered.
	Status int
	// Granted is the access put into the token (nil when none was issued).
	Granted []TokenAccess
}

// tokenTTL is the lifetime of issued tokens, in seconds.
const tokenTTL = 300

// tokenServer implements the Docker registry token protocol
// (https://distribution.github.io/distribution/spec/auth/token/) and its
// OAuth2 variant, signing ES256 JWTs whose x5c header carries a self-signed
// certificate that the registry trusts through auth.token.rootcertbundle.
type tokenServer struct {
	signer        *selfSignedSigner
	service       string
	issuer        string
	users         map[string]string
	anonymousPull bool

	mu       sync.Mutex
	requests []TokenRequest
	refresh  map[string]string // refresh token -> user
}

func (ts *tokenServer) record(req TokenRequest) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.requests = append(ts.requests, req)
}

func (ts *tokenServer) log() []TokenRequest {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.requests)
}

func (ts *tokenServer) checkPassword(user, password string) bool {
	want, ok := ts.users[user]
	if !ok {
		// Compare anyway so that unknown users cost the same.
		want = "\x00unknown user"
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1 && ok
}

// ServeHTTP answers token requests at any path.
func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := TokenRequest{Method: r.Method}
	fail := func(status int, code, msg string) {
		rec.Status = status
		ts.record(rec)
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="rkt testutil token server"`)
		}
		writeRegistryError(w, status, code, msg)
	}
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "UNSUPPORTED", "bad form: "+err.Error())
		return
	}
	for _, s := range r.Form["scope"] {
		// The OAuth2 form separates scopes with spaces.
		rec.Scopes = append(rec.Scopes, strings.Fields(s)...)
	}
	if svc := r.Form.Get("service"); svc != ts.service {
		fail(http.StatusBadRequest, "UNSUPPORTED", fmt.Sprintf("unknown service %q, want %q", svc, ts.service))
		return
	}

	var issueRefresh bool
	switch r.Method {
	case http.MethodGet:
		if user, password, ok := r.BasicAuth(); ok {
			if !ts.checkPassword(user, password) {
				rec.User = user
				fail(http.StatusUnauthorized, "UNAUTHORIZED", "incorrect username or password")
				return
			}
			rec.User = user
			issueRefresh = r.Form.Get("offline_token") == "true"
		} else if r.Header.Get("Authorization") != "" {
			fail(http.StatusUnauthorized, "UNAUTHORIZED", "unsupported authorization scheme")
			return
		}
	case http.MethodPost:
		switch gt := r.PostForm.Get("grant_type"); gt {
		case "password":
			user := r.PostForm.Get("username")
			rec.User = user
			if !ts.checkPassword(user, r.PostForm.Get("password")) {
				fail(http.StatusUnauthorized, "UNAUTHORIZED", "incorrect username or password")
				return
			}
			issueRefresh = r.PostForm.Get("access_type") == "offline"
		case "refresh_token":
			ts.mu.Lock()
			user, ok := ts.refresh[r.PostForm.Get("refresh_token")]
			ts.mu.Unlock()
			if !ok {
				fail(http.StatusUnauthorized, "UNAUTHORIZED", "invalid refresh token")
				return
			}
			rec.User = user
		default:
			fail(http.StatusBadRequest, "UNSUPPORTED", fmt.Sprintf("unsupported grant_type %q", gt))
			return
		}
	default:
		fail(http.StatusMethodNotAllowed, "UNSUPPORTED", "method not allowed")
		return
	}

	rec.Granted = ts.grant(rec.User, rec.Scopes)
	now := time.Now()
	tok, err := ts.sign(rec.User, rec.Granted, now)
	if err != nil {
		fail(http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	resp := map[string]any{
		"token":        tok,
		"access_token": tok,
		"expires_in":   tokenTTL,
		"issued_at":    now.UTC().Format(time.RFC3339),
	}
	if issueRefresh && rec.User != "" {
		rt := randomHex(16)
		ts.mu.Lock()
		if ts.refresh == nil {
			ts.refresh = map[string]string{}
		}
		ts.refresh[rt] = rec.User
		ts.mu.Unlock()
		resp["refresh_token"] = rt
	}
	rec.Status = http.StatusOK
	ts.record(rec)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// grant decides what a user gets: authenticated users get every action they
// ask for; anonymous users get pull on repositories when anonymousPull is
// set, and nothing otherwise.
func (ts *tokenServer) grant(user string, scopes []string) []TokenAccess {
	granted := []TokenAccess{}
	for _, s := range scopes {
		first, last := strings.Index(s, ":"), strings.LastIndex(s, ":")
		if first < 0 || first == last {
			continue
		}
		typ, name, actions := s[:first], s[first+1:last], strings.Split(s[last+1:], ",")
		var ok []string
		for _, a := range actions {
			switch {
			case a == "":
			case user != "":
				ok = append(ok, a)
			case ts.anonymousPull && typ == "repository" && a == "pull":
				ok = append(ok, a)
			}
		}
		if len(ok) > 0 {
			granted = append(granted, TokenAccess{Type: typ, Name: name, Actions: ok})
		}
	}
	return granted
}

// sign builds a compact ES256 JWT in the form distribution 2.8 accepts:
// the signing certificate in the x5c header, the signature as r||s.
func (ts *tokenServer) sign(user string, access []TokenAccess, now time.Time) (string, error) {
	header := map[string]any{
		"typ": "JWT",
		"alg": "ES256",
		"x5c": []string{base64.StdEncoding.EncodeToString(ts.signer.certDER)},
	}
	claims := map[string]any{
		"iss":    ts.issuer,
		"sub":    user,
		"aud":    ts.service,
		"exp":    now.Add(tokenTTL * time.Second).Unix(),
		"nbf":    now.Unix(),
		"iat":    now.Unix(),
		"jti":    randomHex(16),
		"access": access,
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("marshal token header: %w", err)
	}
	cj, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("marshal token claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signingInput := enc.EncodeToString(hj) + "." + enc.EncodeToString(cj)
	sum := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, ts.signer.key, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signingInput + "." + enc.EncodeToString(sig), nil
}

// writeRegistryError writes an error body in the distribution API format.
func writeRegistryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors":  []map[string]string{{"code": code, "message": msg}},
		"details": msg,
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("testutil: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}
