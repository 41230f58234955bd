package stage0

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rkt/rkt/internal/stage1/abi"
	"github.com/rkt/rkt/internal/store"
)

// renderNoOverlay renders app name's rootfs as a copy of its image's layers
// (--no-overlay) into the pod's stage2/<app>/rootfs and writes the
// appsinfo/<app>/no-overlay marker that tells stage1 to mount no overlay.
func renderNoOverlay(ctx context.Context, s *store.Store, podDir, name string, img *store.Image) error {
	dir := filepath.Join(podDir, abi.Stage2, name, "rootfs")
	if err := s.RenderImage(ctx, img.ID, dir, store.RenderOptions{}); err != nil {
		return fmt.Errorf("--no-overlay: %w", err)
	}
	return os.WriteFile(filepath.Join(podDir, abi.AppsInfo, name, abi.AppNoOverlay), nil, 0o640)
}
