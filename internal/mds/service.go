package mds

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"fmt"
)

// Service is one metadata service: its registered pods and its HMAC key.
// Its two APIs are RegistrationHandler and PublicHandler.
type Service struct {
	reg *registry
	// key signs pod identities; it is random per process, so a signature
	// verifies only against the service that made it.
	key [sha512.Size]byte
	// port is the public API's port, told to every registrant.
	port int
	logf func(format string, args ...any)
}

// NewService returns a service with a fresh random HMAC key. port is the
// public API's port, which registration answers give to stage0; logf
// (nil: silent) gets one line per registration change.
func NewService(port int, logf func(format string, args ...any)) (*Service, error) {
	s := &Service{reg: newRegistry(), port: port, logf: logf}
	if _, err := rand.Read(s.key[:]); err != nil {
		return nil, fmt.Errorf("metadata service: generating the HMAC key: %w", err)
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	return s, nil
}

// sign is the pod identity signature of content for the pod uuid:
// HMAC-SHA512 over the UUID's 16 bytes followed by content, as rkt 1.x.
func (s *Service) sign(uuid [16]byte, content []byte) []byte {
	h := hmac.New(sha512.New, s.key[:])
	h.Write(uuid[:])
	h.Write(content)
	return h.Sum(nil)
}
