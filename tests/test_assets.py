"""Every asset a folium page would load comes from this server, from packages installed from npm."""
from __future__ import annotations

import folium
import folium.plugins
import pytest

from mapserver import assets



def test_npm_installed_every_asset():
    assert assets.missing() == []


@pytest.mark.parametrize("element", [folium.Map, folium.plugins.Draw], ids=lambda e: e.__name__)
def test_every_folium_asset_is_local_and_served(app, element):
    client = app.test_client()
    with app.test_request_context():
        urls = assets.local(element.default_js) + assets.local(element.default_css)
    assert urls
    for name, url in urls:
        assert url.startswith("/assets/"), name
        response = client.get(url)
        assert response.status_code == 200 and len(response.data) > 100, (name, url)


def test_a_local_map_renders_without_any_external_url(app):
    with app.test_request_context():
        m = assets.local_map(location=[36.06, 103.75], zoom_start=12)
        draw = folium.plugins.Draw()
        assets.localize(draw)
        draw.add_to(m)
        html = m.get_root().render()
    assert "leaflet.js" in html and "leaflet.draw.js" in html
    for cdn in ("http://", "https://", "//cdn", "jsdelivr", "cdnjs", "unpkg", "bootstrapcdn", "code.jquery"):
        assert cdn not in html.replace("http://www.w3.org", ""), cdn


@pytest.mark.parametrize("path", ["/assets/leaflet/../../setup.cfg", "/assets/evil/x.js", "/assets/leaflet/nope.js",
                                  "/assets/%2e%2e/setup.cfg"])
def test_only_the_packages_own_files_are_served(app, path):
    assert app.test_client().get(path).status_code == 404
