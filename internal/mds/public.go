package mds

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/appc/spec/schema/types"
)

// Content types the appc spec prescribes.
const (
	contentJSON = "application/json"
	contentText = "text/plain; charset=us-ascii"
)

// maxForm bounds the body of a sign or verify request.
const maxForm = 1 << 20

// apiPrefix follows the token in every public path.
const apiPrefix = "acMetadata/v1"

// PublicHandler is the API apps reach at AC_METADATA_URL:
// /<token>/acMetadata/v1/... (appc spec, "App Container Metadata
// Service"). Paths match exactly: no cleaning, no escapes, no redirects.
func (s *Service) PublicHandler() http.Handler {
	return http.HandlerFunc(s.servePublic)
}

// route is one public endpoint once the token has selected the pod.
type route struct {
	method string
	serve  func(w http.ResponseWriter, r *http.Request, p *pod)
}

func (s *Service) servePublic(w http.ResponseWriter, r *http.Request) {
	token, rest, ok := splitPublicPath(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	p := s.reg.lookup(token)
	if p == nil {
		http.Error(w, "unknown token", http.StatusUnauthorized)
		return
	}
	rt, ok := s.publicRoute(rest)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != rt.method && (rt.method != http.MethodGet || r.Method != http.MethodHead) {
		w.Header().Set("Allow", rt.method)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rt.serve(w, r, p)
}

// splitPublicPath returns the token and the path segments after
// /<token>/acMetadata/v1/. Escaped paths (RawPath set: %2F and the like)
// are refused, so a segment is exactly what the client sent.
func splitPublicPath(r *http.Request) (string, []string, bool) {
	if r.URL.RawPath != "" || !strings.HasPrefix(r.URL.Path, "/") {
		return "", nil, false
	}
	token, after, ok := strings.Cut(r.URL.Path[1:], "/")
	if !ok || token == "" {
		return "", nil, false
	}
	after, ok = strings.CutPrefix(after, apiPrefix+"/")
	if !ok {
		return "", nil, false
	}
	return token, strings.Split(after, "/"), true
}

// publicRoute maps the segments after the prefix to an endpoint.
// Annotation names are AC identifiers, which may hold slashes: they are
// the rest of the path.
func (s *Service) publicRoute(seg []string) (route, bool) {
	get := func(f func(http.ResponseWriter, *http.Request, *pod)) (route, bool) {
		return route{method: http.MethodGet, serve: f}, true
	}
	post := func(f func(http.ResponseWriter, *http.Request, *pod)) (route, bool) {
		return route{method: http.MethodPost, serve: f}, true
	}
	switch {
	case len(seg) == 2 && seg[0] == "pod" && seg[1] == "manifest":
		return get(s.podManifest)
	case len(seg) == 2 && seg[0] == "pod" && seg[1] == "uuid":
		return get(s.podUUID)
	case len(seg) >= 2 && seg[0] == "pod" && seg[1] == "annotations":
		name := strings.Join(seg[2:], "/")
		return get(func(w http.ResponseWriter, r *http.Request, p *pod) {
			if name == "" {
				writeJSON(w, p.manifest.Annotations)
				return
			}
			annotation(w, p.manifest.Annotations, name)
		})
	case len(seg) == 3 && seg[0] == "pod" && seg[1] == "hmac" && seg[2] == "sign":
		return post(s.podSign)
	case len(seg) == 3 && seg[0] == "pod" && seg[1] == "hmac" && seg[2] == "verify":
		return post(s.podVerify)
	case len(seg) >= 3 && seg[0] == "apps" && seg[2] == "annotations":
		name := strings.Join(seg[3:], "/")
		return get(s.appHandler(seg[1], func(w http.ResponseWriter, p *pod, an types.ACName, a *app) {
			merged := mergedAnnotations(p, an, a)
			if name == "" {
				writeJSON(w, merged)
				return
			}
			annotation(w, merged, name)
		}))
	case len(seg) == 4 && seg[0] == "apps" && seg[2] == "image" && seg[3] == "manifest":
		return get(s.appHandler(seg[1], func(w http.ResponseWriter, _ *pod, _ types.ACName, a *app) {
			writeRaw(w, contentJSON, a.json)
		}))
	case len(seg) == 4 && seg[0] == "apps" && seg[2] == "image" && seg[3] == "id":
		return get(s.appHandler(seg[1], func(w http.ResponseWriter, p *pod, an types.ACName, _ *app) {
			writeRaw(w, contentText, []byte(p.manifest.Apps.Get(an).Image.ID.String()))
		}))
	}
	return route{}, false
}

// appHandler resolves the app of the pod named in the path: an AC name
// of an app registered for this very pod. A registered app is always one
// of the pod's manifest (registry.addApp), which never changes, so f may
// look it up there.
func (s *Service) appHandler(name string, f func(http.ResponseWriter, *pod, types.ACName, *app)) func(http.ResponseWriter, *http.Request, *pod) {
	return func(w http.ResponseWriter, _ *http.Request, p *pod) {
		an, err := types.NewACName(name)
		if err != nil {
			http.Error(w, "app name is not an AC name", http.StatusBadRequest)
			return
		}
		a := s.reg.app(p, *an)
		if a == nil {
			http.Error(w, errAppNotFound.Error(), http.StatusNotFound)
			return
		}
		f(w, p, *an, a)
	}
}

// mergedAnnotations are an app's image annotations overridden by its pod
// manifest annotations, in the image's order, then the pod's additions.
// an is a registered app of p (appHandler).
func mergedAnnotations(p *pod, an types.ACName, a *app) types.Annotations {
	var merged types.Annotations
	for _, x := range a.manifest.Annotations {
		merged.Set(x.Name, x.Value)
	}
	for _, x := range p.manifest.Apps.Get(an).Annotations {
		merged.Set(x.Name, x.Value)
	}
	return merged
}

// annotation answers the value of one annotation.
func annotation(w http.ResponseWriter, as types.Annotations, name string) {
	id, err := types.NewACIdentifier(name)
	if err != nil {
		http.Error(w, "annotation name is not an AC identifier", http.StatusBadRequest)
		return
	}
	v, ok := as.Get(id.String())
	if !ok {
		http.Error(w, "annotation not found", http.StatusNotFound)
		return
	}
	writeRaw(w, contentText, []byte(v))
}

func (s *Service) podManifest(w http.ResponseWriter, _ *http.Request, p *pod) {
	writeRaw(w, contentJSON, p.manifestJSON)
}

func (s *Service) podUUID(w http.ResponseWriter, _ *http.Request, p *pod) {
	writeRaw(w, contentText, []byte(p.uuid.String()))
}

// podSign signs the form field content with the pod's identity.
func (s *Service) podSign(w http.ResponseWriter, r *http.Request, p *pod) {
	form, ok := readForm(w, r)
	if !ok {
		return
	}
	content, ok := single(form, "content")
	if !ok || content == "" {
		http.Error(w, "the form needs one non-empty content field", http.StatusBadRequest)
		return
	}
	writeRaw(w, contentText, []byte(base64.StdEncoding.EncodeToString(s.sign(p.uuid, []byte(content)))))
}

// podVerify checks that signature is the signature of content by the pod
// uuid (any pod of this service, registered or gone): 200 or 403.
func (s *Service) podVerify(w http.ResponseWriter, r *http.Request, _ *pod) {
	form, ok := readForm(w, r)
	if !ok {
		return
	}
	content, ok1 := single(form, "content")
	rawUUID, ok2 := single(form, "uuid")
	rawSig, ok3 := single(form, "signature")
	if !ok1 || !ok2 || !ok3 || content == "" {
		http.Error(w, "the form needs one each of content (non-empty), uuid and signature", http.StatusBadRequest)
		return
	}
	u, err := types.NewUUID(rawUUID)
	if err != nil {
		http.Error(w, "uuid is not a UUID", http.StatusBadRequest)
		return
	}
	sig, err := base64.StdEncoding.DecodeString(rawSig)
	if err != nil {
		http.Error(w, "signature is not base64", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", contentText)
	if !hmac.Equal(sig, s.sign(*u, []byte(content))) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// readForm parses a urlencoded body of at most maxForm bytes.
func readForm(w http.ResponseWriter, r *http.Request) (map[string][]string, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		badBody(w, err, "bad form")
		return nil, false
	}
	return r.PostForm, true
}

// badBody answers a request whose body could not be read or parsed: 413
// when it was over the limit of its http.MaxBytesReader, else 400.
func badBody(w http.ResponseWriter, err error, msg string) {
	status := http.StatusBadRequest
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		status = http.StatusRequestEntityTooLarge
	}
	http.Error(w, msg, status)
}

// single is the one value of a form field.
func single(form map[string][]string, k string) (string, bool) {
	v := form[k]
	if len(v) != 1 {
		return "", false
	}
	return v[0], true
}

func writeJSON(w http.ResponseWriter, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	writeRaw(w, contentJSON, raw)
}

func writeRaw(w http.ResponseWriter, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
