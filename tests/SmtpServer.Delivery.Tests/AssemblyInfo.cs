// These tests drive real Unix peers (Dovecot, flock(1), /bin/sh scripts) and check file modes.
[assembly: System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
