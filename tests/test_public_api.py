"""The public surface: sorted, complete, and layered as DESIGN.md draws it."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

import certmail_async

PACKAGE = pathlib.Path(certmail_async.__file__).parent


class TestAll:
    def test_all_is_sorted(self) -> None:
        """certmail_async.__all__ is sorted, so a new public name is a visible decision."""
        assert certmail_async.__all__ == sorted(certmail_async.__all__)

    def test_all_names_exist(self) -> None:
        """Every name in __all__ resolves."""
        for name in certmail_async.__all__:
            assert hasattr(certmail_async, name), name

    def test_all_is_complete(self) -> None:
        """Every public class of the private modules and provider packages is re-exported."""
        exported = set(certmail_async.__all__)
        modules = [
            "_exceptions",
            "_models",
            "_pacing",
            "_retry",
            "pecmassiva",
            "receipts",
        ]
        missing = []
        for mod in modules:
            module = __import__(f"certmail_async.{mod}", fromlist=["__all__"])
            for name in getattr(module, "__all__", []):
                obj = getattr(module, name)
                if isinstance(obj, type) and not name.endswith("Resource") and name not in exported:
                    missing.append(f"{mod}.{name}")
        assert missing == []


class TestLayers:
    def _imports(self, path: pathlib.Path) -> set[str]:
        tree = ast.parse(path.read_text())
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        return names

    def test_providers_never_import_aiohttp(self) -> None:
        """Provider packages and the dispatcher never import aiohttp: only the transport does."""
        # One documented exception: the openapi.it callback receiver builds an aiohttp.web
        # handler, importing aiohttp inside callback_handler() only (never at module level).
        receiver = PACKAGE / "openapi_pec" / "_callbacks.py"
        for package in ("pecmassiva", "legallymail", "openapi_pec", "bulk", "receipts"):
            for path in (PACKAGE / package).glob("*.py"):
                if path == receiver:
                    top = ast.parse(path.read_text()).body  # module-level statements only
                    lines = [
                        ast.unparse(n) for n in top if isinstance(n, ast.Import | ast.ImportFrom)
                    ]
                    assert not [line for line in lines if "aiohttp" in line], path
                    continue
                assert "aiohttp" not in self._imports(path), path

    @pytest.mark.parametrize(
        ("provider", "keys"),
        [
            ("pecmassiva", ('"object"', '"message_id"', '"n_of_pages"', '"x-password"')),
            ("legallymail", ('"recipient"', '"signer_name"', '"tracking_id"', '"emails"')),
            ("openapi_pec", ('"casella_pec"', '"stato"', '"documenti"', '"refreshToken"')),
        ],
    )
    def test_wire_keys_live_in_wire_modules(self, provider: str, keys: tuple[str, ...]) -> None:
        """Wire keys appear only in the provider's _wire.py."""
        for path in (PACKAGE / provider).glob("*.py"):
            if path.name == "_wire.py":
                continue
            # ``field="tracking_id"`` names a Python argument in an error, not a wire key
            source = re.sub(r'field=f?"[^"]*"', "", path.read_text())
            for key in keys:
                assert key not in source, (path, key)

    def test_only_transport_catches_aiohttp_errors(self) -> None:
        """'except aiohttp.' appears in the transport alone."""
        offenders = [
            p
            for p in PACKAGE.rglob("*.py")
            if "except aiohttp." in p.read_text() or "except (aiohttp." in p.read_text()
        ]
        assert offenders == [PACKAGE / "_transport.py"]
