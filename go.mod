module github.com/relaycast/relaycast

go 1.26
