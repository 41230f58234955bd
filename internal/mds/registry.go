package mds

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/internal/stage1/abi"
)

// Limits on what the registration API accepts.
const (
	// MaxManifest bounds a registered pod or image manifest.
	MaxManifest = 4 << 20
	// MinTokenLen is the shortest token accepted: 32 hex digits are the
	// 128 bits the appc spec asks for.
	MinTokenLen = 32
	// MaxTokenLen is the longest token accepted (stage1's own limit).
	MaxTokenLen = 256
)

// ValidToken reports whether t may be a pod's token: one that stage1
// takes (URL-safe characters only, so that it is one path segment of
// AC_METADATA_URL as it is) and at least MinTokenLen long.
func ValidToken(t string) bool {
	return len(t) >= MinTokenLen && abi.ValidMDSToken(t)
}

var (
	errPodNotFound = errors.New("pod not found")
	errAppNotFound = errors.New("app not found")
	errTokenInUse  = errors.New("token is in use by another pod")
	errBadToken    = fmt.Errorf("token must be %d to %d characters of A-Z a-z 0-9 _ -", MinTokenLen, MaxTokenLen)
)

// pod is one registered pod. It is never modified once published, except
// its apps, under the registry's lock.
type pod struct {
	uuid     types.UUID
	token    string
	manifest *schema.PodManifest
	// manifestJSON is the manifest as served.
	manifestJSON []byte
	apps         map[types.ACName]*app
}

type app struct {
	manifest *schema.ImageManifest
	json     []byte
}

// registry holds the registered pods by UUID and by the SHA-256 of their
// token: a map lookup keyed by the token itself could leak its bytes
// through timing, one keyed by its hash leaks nothing usable, and the
// token is then compared in constant time.
type registry struct {
	mu      sync.RWMutex
	byUUID  map[types.UUID]*pod
	byToken map[[sha256.Size]byte]*pod
}

func newRegistry() *registry {
	return &registry{byUUID: map[types.UUID]*pod{}, byToken: map[[sha256.Size]byte]*pod{}}
}

// addPod registers a pod with its manifest, replacing an earlier
// registration of the same UUID (and its token).
func (r *registry) addPod(u types.UUID, token string, pm *schema.PodManifest) error {
	if !ValidToken(token) {
		return errBadToken
	}
	raw, err := json.Marshal(pm)
	if err != nil {
		return fmt.Errorf("pod manifest: %w", err)
	}
	p := &pod{uuid: u, token: token, manifest: pm, manifestJSON: raw, apps: map[types.ACName]*app{}}
	h := sha256.Sum256([]byte(token))
	r.mu.Lock()
	defer r.mu.Unlock()
	if other, ok := r.byToken[h]; ok && other.uuid != u {
		return errTokenInUse
	}
	if old, ok := r.byUUID[u]; ok {
		delete(r.byToken, sha256.Sum256([]byte(old.token)))
	}
	r.byUUID[u] = p
	r.byToken[h] = p
	return nil
}

// addApp records the image manifest of an app of a registered pod.
func (r *registry) addApp(u types.UUID, name types.ACName, im *schema.ImageManifest) error {
	raw, err := json.Marshal(im)
	if err != nil {
		return fmt.Errorf("image manifest: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.byUUID[u]
	if !ok {
		return errPodNotFound
	}
	if p.manifest.Apps.Get(name) == nil {
		return errAppNotFound
	}
	p.apps[name] = &app{manifest: im, json: raw}
	return nil
}

// remove unregisters a pod.
func (r *registry) remove(u types.UUID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.byUUID[u]
	if !ok {
		return errPodNotFound
	}
	delete(r.byUUID, u)
	delete(r.byToken, sha256.Sum256([]byte(p.token)))
	return nil
}

// byTokenLookup returns the pod a token selects, or nil.
func (r *registry) lookup(token string) *pod {
	if !ValidToken(token) {
		return nil
	}
	h := sha256.Sum256([]byte(token))
	r.mu.RLock()
	p := r.byToken[h]
	r.mu.RUnlock()
	if p == nil || subtle.ConstantTimeCompare([]byte(p.token), []byte(token)) != 1 {
		return nil
	}
	return p
}

// app returns a registered app of p.
func (r *registry) app(p *pod, name types.ACName) *app {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return p.apps[name]
}

// len is the number of registered pods.
func (r *registry) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.byUUID)
}
