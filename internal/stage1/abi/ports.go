package abi

// AppPort is the app port a port forward of the pod manifest names (one
// without a podPort of its own): the first port of that name of the first
// app that has one, in the manifest's order, as rkt 1.x looked it up; nil
// for none. ports gives an app's ports (none for an app without an app
// section), name a port's name. Generic so that stage0, with the appc
// schema's types, and the flavor, with its own decoding of the manifest,
// share one lookup.
func AppPort[A, P any](apps []A, ports func(*A) []P, name func(*P) string, want string) *P {
	for i := range apps {
		ps := ports(&apps[i])
		for j := range ps {
			if name(&ps[j]) == want {
				return &ps[j]
			}
		}
	}
	return nil
}
