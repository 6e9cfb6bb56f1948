//! Root enumeration for hosts (goroutine and thread stacks, registers, data segments, TLS); owned by the gc-host work.
