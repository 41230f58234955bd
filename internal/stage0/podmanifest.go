package stage0

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"

	"github.com/rkt/rkt/internal/aci"
	"github.com/rkt/rkt/internal/errdefs"
	"github.com/rkt/rkt/internal/podspec"
	"github.com/rkt/rkt/internal/store"
)

// maxPodManifest bounds a --pod-manifest file.
const maxPodManifest = 1 << 20

// ReadPodManifest reads and validates an appc PodManifest file.
func ReadPodManifest(file string) (*schema.PodManifest, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("pod manifest: %w", err))
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxPodManifest+1))
	if err != nil {
		return nil, fmt.Errorf("pod manifest %s: %w", file, err)
	}
	if len(raw) > maxPodManifest {
		return nil, errdefs.TooLarge(fmt.Errorf("pod manifest %s is larger than %d bytes", file, maxPodManifest))
	}
	var pm schema.PodManifest
	if err := json.Unmarshal(raw, &pm); err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("pod manifest %s is not an appc PodManifest: %w", file, err))
	}
	if len(pm.Apps) == 0 {
		return nil, errdefs.InvalidArgument(fmt.Errorf("pod manifest %s has no apps", file))
	}
	return &pm, nil
}

// PrepareManifest creates a pod from an appc PodManifest given by the user
// (rkt run --pod-manifest). Its images must be in the store; an app
// without an "app" section gets its image's; user and group names are
// resolved through the image's own accounts. Like Prepare, it returns the
// pod locked in the prepare state, or removes it on failure.
func PrepareManifest(ctx context.Context, images Images, dataDir string, pm *schema.PodManifest, sel Stage1Selection, dirs Stage1Dirs) (_ *Prepared, err error) {
	vols := map[types.ACName]bool{}
	for _, v := range pm.Volumes {
		vols[v.Name] = true
	}
	for _, ra := range pm.Apps {
		for _, m := range ra.Mounts {
			if !vols[m.Volume] && m.AppVolume == nil {
				return nil, errdefs.InvalidArgument(fmt.Errorf("pod manifest: app %s mounts volume %q, which the manifest does not declare", ra.Name, m.Volume))
			}
		}
	}
	st1, err := LoadStage1(ctx, images, sel, dirs)
	if err != nil {
		return nil, err
	}
	// Every app's image and rootfs are resolved before the pod directory
	// is made: an image that is not there, or that the front cannot give
	// (it hands over to the full rkt), leaves no pod behind.
	apps := make([]appRootfsToWrite, len(pm.Apps))
	var imgs []*store.Image
	for i := range pm.Apps {
		ra := &pm.Apps[i]
		img, err := imageOfApp(images.ImageStore(), ra)
		if err != nil {
			return nil, fmt.Errorf("pod manifest: app %s: %w", ra.Name, err)
		}
		tree, err := images.StoredACITree(img)
		if err != nil {
			return nil, fmt.Errorf("pod manifest: app %s: ACI %s: %w", ra.Name, store.FormatID(img.ID), err)
		}
		derived, root, err := appFor(images.ImageStore(), img, tree, podspec.AppOptions{Name: ra.Name.String()})
		if err != nil {
			return nil, fmt.Errorf("pod manifest: app %s: %w", ra.Name, err)
		}
		if ra.App == nil {
			ra.App = derived.App
		} else if err := numericIDs(ra.App, root.layers); err != nil {
			return nil, fmt.Errorf("pod manifest: app %s: %w", ra.Name, err)
		}
		for _, k := range []string{podspec.AnnotationStoredID, podspec.AnnotationStoredName} {
			v, _ := derived.Annotations.Get(k)
			ra.Annotations.Set(types.ACIdentifier(k), v)
		}
		apps[i] = appRootfsToWrite{ra.Name.String(), img, root}
		imgs = append(imgs, img)
	}
	if err := checkPorts(pm); err != nil {
		return nil, fmt.Errorf("pod manifest: %w", err)
	}
	p, err := newPod(dataDir)
	if err != nil {
		return nil, err
	}
	defer discardOnError(p, &err)
	res := &Prepared{Pod: p, Stage1: st1, Manifest: pm, Images: imgs}
	if err := writeAppRootfses(ctx, images, p.Dir, apps, false); err != nil {
		return nil, err
	}
	if err := writePodFiles(p.Dir, pm, st1); err != nil {
		return nil, err
	}
	return res, nil
}

// imageOfApp finds an app's image in the store: by the stored ID or name
// rkt records in annotations, else by the appc ID (an ACI's sha512, or the
// sha512 of an OCI image's manifest), else by the appc name and version.
func imageOfApp(s *store.Store, ra *schema.RuntimeApp) (*store.Image, error) {
	if id, ok := ra.Annotations.Get(podspec.AnnotationStoredID); ok {
		return s.LookupID(id)
	}
	if n, ok := ra.Annotations.Get(podspec.AnnotationStoredName); ok {
		return s.LookupName(n)
	}
	want := ra.Image.ID.String()
	if img, err := s.LookupID(want); err == nil && img.MediaType == aci.MediaType {
		return img, nil // an ACI's ID is its store ID
	}
	imgs, err := s.Images()
	if err != nil {
		return nil, err
	}
	for _, img := range imgs {
		if img.Config == "" {
			continue
		}
		if id, err := appcImageID(s, img); err == nil && id == want {
			return img, nil
		}
	}
	if ra.Image.Name != nil {
		name := ra.Image.Name.String()
		if v, ok := ra.Image.Labels.Get("version"); ok {
			name += ":" + v
		}
		if img, err := s.LookupName(name); err == nil {
			return img, nil
		}
	}
	return nil, errdefs.NotFound(fmt.Errorf("image %s is not in the store (fetch it first)", want))
}

// numericIDs resolves a given app's user and group names to numbers
// through the image's accounts, as stage1 needs numbers.
func numericIDs(app *types.App, layers []string) error {
	if app.User == "" || app.Group == "" {
		return errors.New("the app section needs user and group")
	}
	_, uerr := strconv.ParseUint(app.User, 10, 32)
	_, gerr := strconv.ParseUint(app.Group, 10, 32)
	if uerr == nil && gerr == nil {
		return nil
	}
	acc := readAccounts(layers)
	if uerr != nil {
		uid, _, _, _, err := acc.ResolveUser(app.User)
		if err != nil {
			return err
		}
		app.User = strconv.FormatUint(uint64(uid), 10)
	}
	if gerr != nil {
		gid, err := acc.ResolveGroup(app.Group)
		if err != nil {
			return err
		}
		app.Group = strconv.FormatUint(uint64(gid), 10)
	}
	return nil
}
