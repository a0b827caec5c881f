# Minimal assertions for shell integration tests. Source it; call `finish` at the end, which
# prints "N passed, M failed" and exits non-zero on any failure.
passed=0
failed=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what" >&2; fi
}
expect_eq() {  # expect_eq DESCRIPTION EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); printf 'FAIL: %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3" >&2
  fi
}
expect_contains() {  # expect_contains DESCRIPTION NEEDLE HAYSTACK
  case "$3" in *"$2"*) passed=$((passed + 1)) ;; *)
    failed=$((failed + 1)); printf 'FAIL: %s\n  missing: %s\n  in:      %s\n' "$1" "$2" "$3" >&2 ;;
  esac
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
