package mds

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/internal/mds/mdsclient"
)

// RegistrationHandler is the API stage0 talks to over the unix socket:
//
//	PUT    /pods/<uuid>?token=<token>   body: the PodManifest
//	PUT    /pods/<uuid>/<app>           body: the app's ImageManifest
//	DELETE /pods/<uuid>
func (s *Service) RegistrationHandler() http.Handler {
	return http.HandlerFunc(s.serveRegistration)
}

func (s *Service) serveRegistration(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/pods/")
	if r.URL.RawPath != "" || !ok {
		http.NotFound(w, r)
		return
	}
	seg := strings.Split(rest, "/")
	if len(seg) > 2 {
		http.NotFound(w, r)
		return
	}
	u, err := types.NewUUID(seg[0])
	if err != nil {
		http.Error(w, "bad pod UUID", http.StatusBadRequest)
		return
	}
	switch {
	case len(seg) == 1 && r.Method == http.MethodPut:
		s.registerPod(w, r, *u)
	case len(seg) == 1 && r.Method == http.MethodDelete:
		if err := s.reg.remove(*u); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		s.logf("pod %s unregistered", u)
		w.WriteHeader(http.StatusOK)
	case len(seg) == 2 && r.Method == http.MethodPut:
		s.registerApp(w, r, *u, seg[1])
	case len(seg) == 1:
		w.Header().Set("Allow", "PUT, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	default:
		w.Header().Set("Allow", "PUT")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Service) registerPod(w http.ResponseWriter, r *http.Request, u types.UUID) {
	tokens := r.URL.Query()["token"]
	if len(tokens) != 1 {
		http.Error(w, "give one token", http.StatusBadRequest)
		return
	}
	var pm schema.PodManifest
	if !readManifest(w, r, &pm) {
		return
	}
	if err := s.reg.addPod(u, tokens[0], &pm); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, errTokenInUse) {
			status = http.StatusConflict
		}
		http.Error(w, err.Error(), status)
		return
	}
	s.logf("pod %s registered", u)
	writeJSON(w, mdsclient.Registered{Port: s.port})
}

func (s *Service) registerApp(w http.ResponseWriter, r *http.Request, u types.UUID, name string) {
	an, err := types.NewACName(name)
	if err != nil {
		http.Error(w, "app name is not an AC name", http.StatusBadRequest)
		return
	}
	var im schema.ImageManifest
	if !readManifest(w, r, &im) {
		return
	}
	if err := s.reg.addApp(u, *an, &im); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, errPodNotFound) || errors.Is(err, errAppNotFound) {
			status = http.StatusNotFound
		}
		http.Error(w, err.Error(), status)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// readManifest decodes a body of at most MaxManifest bytes into v (whose
// UnmarshalJSON checks it).
func readManifest(w http.ResponseWriter, r *http.Request, v any) bool {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxManifest))
	if err != nil {
		badBody(w, err, "reading the body failed")
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		http.Error(w, "bad manifest: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}
