module github.com/datarhei/gosrt

go 1.20

require (
	github.com/benburkert/openpgp v0.0.0-20160410205803-c2471f86866c
	golang.org/x/crypto v0.33.0
	golang.org/x/sys v0.30.0
)
