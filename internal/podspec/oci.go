package podspec

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Annotation keys rkt's docker2aci set on converted images.
const (
	AnnotationRegistryURL = "appc.io/docker/registryurl"
	AnnotationRepository  = "appc.io/docker/repository"
	AnnotationImageID     = "appc.io/docker/imageid"
	AnnotationTag         = "appc.io/docker/tag"
	AnnotationEntrypoint  = "appc.io/docker/entrypoint"
	AnnotationCmd         = "appc.io/docker/cmd"
	AnnotationManifest    = "oci.opencontainers.org/manifest-digest"
	// AnnotationStoredID and AnnotationStoredName, on a pod's app, hold
	// the stored image's ID (sha256-…) and name (registry/repo:tag), which
	// appc's sha512 IDs and identifiers cannot carry.
	AnnotationStoredID   = "rkt.dev/image-id"
	AnnotationStoredName = "rkt.dev/image-name"
)

// ImageRef names an OCI image for the mapping: its repository with the
// registry host ("127.0.0.1:5000/busybox"), its tag and digests.
type ImageRef struct {
	Repository     string
	Tag            string
	ManifestDigest string
	ConfigDigest   string
}

// SplitName splits a stored image name ("host/repo:tag" or
// "host/repo@sha256:…") into repository and tag (empty for a digest).
func SplitName(name string) (repo, tag string) {
	if i := strings.Index(name, "@"); i >= 0 {
		return name[:i], ""
	}
	slash := strings.LastIndex(name, "/")
	if i := strings.LastIndex(name, ":"); i > slash {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// ImageManifestFromOCI maps an OCI image config onto the appc
// ImageManifest rkt shows for it (rkt image cat-manifest): exec from
// Entrypoint and Cmd, user and group, environment, working directory, ports
// named "80-tcp", volumes as mount points, and the appc.io/docker/*
// annotations.
func ImageManifestFromOCI(ref ImageRef, cfg *v1.ConfigFile) (*schema.ImageManifest, error) {
	nameStr, err := types.SanitizeACIdentifier(strings.ToLower(ref.Repository))
	if err != nil {
		return nil, fmt.Errorf("image name %q: %w", ref.Repository, err)
	}
	id, err := types.NewACIdentifier(nameStr)
	if err != nil {
		return nil, fmt.Errorf("image name %q: %w", ref.Repository, err)
	}
	im := schema.BlankImageManifest()
	im.Name = *id
	arch := cfg.Architecture
	if arch == "arm64" {
		arch = "aarch64" // appc's name, as image.AppcArch (podspec imports no package of ours)
	}
	labels := map[types.ACIdentifier]string{"os": cfg.OS, "arch": arch}
	if ref.Tag != "" {
		labels["version"] = ref.Tag
	}
	for _, k := range []types.ACIdentifier{"version", "os", "arch"} {
		if v, ok := labels[k]; ok {
			im.Labels = append(im.Labels, types.Label{Name: k, Value: v})
		}
	}
	app, err := appFromConfig(RunConfigOf(cfg.Config))
	if err != nil {
		return nil, err
	}
	im.App = app
	host, repo := ref.Repository, ""
	if i := strings.Index(ref.Repository, "/"); i >= 0 {
		host, repo = ref.Repository[:i], ref.Repository[i+1:]
	}
	add := func(k, v string) {
		if v != "" {
			im.Annotations.Set(types.ACIdentifier(k), v)
		}
	}
	add(AnnotationRegistryURL, host)
	add(AnnotationRepository, repo)
	add(AnnotationImageID, ref.ConfigDigest)
	add(AnnotationManifest, ref.ManifestDigest)
	add(AnnotationTag, ref.Tag)
	if len(cfg.Config.Entrypoint) > 0 {
		b, _ := json.Marshal(cfg.Config.Entrypoint)
		add(AnnotationEntrypoint, string(b))
	}
	if len(cfg.Config.Cmd) > 0 {
		b, _ := json.Marshal(cfg.Config.Cmd)
		add(AnnotationCmd, string(b))
	}
	if !cfg.Created.IsZero() {
		add("created", cfg.Created.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return im, nil
}

func appFromConfig(c RunConfig) (*types.App, error) {
	exec := append(append([]string{}, c.Entrypoint...), c.Cmd...)
	user, group := "0", "0"
	if c.User != "" {
		u, g, hasGroup := strings.Cut(c.User, ":")
		if u != "" {
			user = u
		}
		if hasGroup && g != "" {
			group = g
		}
	}
	app := &types.App{Exec: exec, User: user, Group: group}
	if c.WorkingDir != "" {
		app.WorkingDirectory = path.Clean("/" + c.WorkingDir)
	}
	for _, kv := range c.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !validEnvName(k) {
			// appc names are C identifiers; images rarely carry
			// others, and an ImageManifest with one cannot be written.
			continue
		}
		app.Environment.Set(k, v)
	}
	ports := make([]string, 0, len(c.ExposedPorts))
	for p := range c.ExposedPorts {
		ports = append(ports, p)
	}
	sort.Strings(ports)
	for _, p := range ports {
		port, err := parsePort(p)
		if err != nil {
			return nil, err
		}
		app.Ports = append(app.Ports, port)
	}
	vols := make([]string, 0, len(c.Volumes))
	for v := range c.Volumes {
		vols = append(vols, v)
	}
	sort.Strings(vols)
	for _, v := range vols {
		mp, err := mountPoint(v)
		if err != nil {
			return nil, err
		}
		app.MountPoints = append(app.MountPoints, mp)
	}
	return app, nil
}

// validEnvName says whether k is an environment variable name appc accepts:
// a C identifier.
func validEnvName(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for _, c := range []byte(k) {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// parsePort maps an OCI exposed port ("80/tcp", "53/udp", "8080") onto an
// appc port named "80-tcp", as rkt did.
func parsePort(s string) (types.Port, error) {
	num, proto, ok := strings.Cut(s, "/")
	if !ok {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return types.Port{}, fmt.Errorf("exposed port %q: unknown protocol %q", s, proto)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 {
		return types.Port{}, fmt.Errorf("exposed port %q: invalid port number", s)
	}
	name, err := types.NewACName(num + "-" + proto)
	if err != nil {
		return types.Port{}, fmt.Errorf("exposed port %q: %w", s, err)
	}
	return types.Port{Name: *name, Protocol: proto, Port: uint(n), Count: 1}, nil
}

// mountPoint maps an OCI volume path onto an appc mount point named after
// the path ("/var/lib/data" -> "volume-var-lib-data").
func mountPoint(p string) (types.MountPoint, error) {
	clean := path.Clean("/" + p)
	if clean == "/" {
		return types.MountPoint{}, fmt.Errorf("volume %q: the root cannot be a volume", p)
	}
	sanitized, err := types.SanitizeACName("volume" + strings.ReplaceAll(clean, "/", "-"))
	if err != nil {
		return types.MountPoint{}, fmt.Errorf("volume %q: %w", p, err)
	}
	name, err := types.NewACName(sanitized)
	if err != nil {
		return types.MountPoint{}, fmt.Errorf("volume %q: %w", p, err)
	}
	return types.MountPoint{Name: *name, Path: clean}, nil
}
