package stage0

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/appc/spec/schema"

	"github.com/rkt/rkt/internal/aci"
	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/mds/mdsclient"
	"github.com/rkt/rkt/internal/podspec"
	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/store"
)

// appImageManifest is what the metadata service serves as an app's image
// manifest: the image's appc manifest, as rkt image cat-manifest shows it
// (for an OCI image, rkt's mapping of its config, as rkt 1.x's docker2aci
// conversion gave). The image is the one appsinfo/<app>/image names.
func appImageManifest(s *store.Store, podDir, app string) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(podDir, abi.AppsInfo, app, abi.AppImageID))
	if err != nil {
		return nil, err
	}
	img, err := s.LookupID(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, err
	}
	m, err := imageManifest(s, img)
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// RegisterMDS registers a pod in run (locked by this process) with the
// metadata service on socket: it records the registration in the pod
// directory first (abi.MDSRegistered, naming the socket, so that gc
// unregisters the pod even if this process dies next), then sends the
// pod manifest and each app's image manifest (from s) with a new random
// token. It returns the token (stage1's --mds-token) and the service's
// port.
func RegisterMDS(ctx context.Context, s *store.Store, podDir, uuid, socket string, pm *schema.PodManifest) (string, int, error) {
	if !filepath.IsAbs(socket) {
		return "", 0, fmt.Errorf("metadata service socket %q is not an absolute path", socket)
	}
	token, err := mdsclient.NewToken()
	if err != nil {
		return "", 0, err
	}
	raw, err := json.Marshal(pm)
	if err != nil {
		return "", 0, fmt.Errorf("pod %s: manifest: %w", uuid, err)
	}
	apps := make([]mdsclient.App, 0, len(pm.Apps))
	for _, ra := range pm.Apps {
		m, err := appImageManifest(s, podDir, ra.Name.String())
		if err != nil {
			return "", 0, fmt.Errorf("pod %s: app %s: image manifest: %w", uuid, ra.Name, err)
		}
		apps = append(apps, mdsclient.App{Name: ra.Name.String(), Manifest: m})
	}
	if err := os.WriteFile(filepath.Join(podDir, abi.MDSRegistered), []byte(socket), 0o600); err != nil {
		return "", 0, fmt.Errorf("pod %s: %w", uuid, err)
	}
	port, err := mdsclient.NewClient(socket).Register(ctx, uuid, token, raw, apps)
	if err != nil {
		return "", 0, err
	}
	return token, port, nil
}

// UnregisterMDS unregisters a pod that RegisterMDS registered (a pod
// without the record is left alone), with the socket it used. A service
// that restarted since, or is gone, has nothing to unregister.
func UnregisterMDS(ctx context.Context, podDir, uuid string) error {
	raw, err := os.ReadFile(filepath.Join(podDir, abi.MDSRegistered))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pod %s: %w", uuid, err)
	}
	socket := string(raw)
	if !filepath.IsAbs(socket) || filepath.Clean(socket) != socket {
		return fmt.Errorf("pod %s: %s names %q, not a socket path", uuid, abi.MDSRegistered, socket)
	}
	// A service that is not running (any more) holds no registration:
	// they live in its memory.
	err = mdsclient.NewClient(socket).Unregister(ctx, uuid)
	if errors.Is(err, mdsclient.ErrNotRegistered) || errdefs.Is(err, errdefs.KindUnavailable) {
		err = nil
	}
	if err == nil {
		err = os.Remove(filepath.Join(podDir, abi.MDSRegistered))
	}
	return err
}

// MDSEnv is stage1's environment for a service on port: nothing for the
// default port, which every stage1 assumes.
func MDSEnv(port int) []string {
	if port == abi.MDSPort {
		return nil
	}
	return []string{abi.EnvMDSPort + "=" + strconv.Itoa(port)}
}

// imageManifest is the appc manifest of a stored image: an ACI's own, or
// the one rkt shows for an OCI image.
func imageManifest(s *store.Store, img *store.Image) (*schema.ImageManifest, error) {
	if img.MediaType == aci.MediaType {
		m, _, err := aci.Manifest(s, img)
		return m, err
	}
	cf, err := readConfig(s, img)
	if err != nil {
		return nil, err
	}
	repo, tag := podspec.SplitName(img.Name)
	return podspec.ImageManifestFromOCI(podspec.ImageRef{Repository: repo, Tag: tag, ManifestDigest: img.ID.String(), ConfigDigest: img.Config.String()}, cf)
}
