module github.com/rkt/rkt/tools/appc

go 1.26.0

tool github.com/appc/spec/actool

require (
	github.com/appc/spec v0.8.11 // indirect
	github.com/coreos/go-semver v0.3.1 // indirect
	github.com/google/gofuzz v1.2.0 // indirect
	github.com/spf13/pflag v1.1.0 // indirect
	go4.org v0.0.0-20260112195520-a5071408f32f // indirect
	golang.org/x/net v0.62.0 // indirect
	gopkg.in/inf.v0 v0.9.1 // indirect
)
