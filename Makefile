# Shortcuts for those who have make; the scripts do the work (and need nothing but bash).
.PHONY: demo test
demo:
	./scripts/demo
test:
	./scripts/test
