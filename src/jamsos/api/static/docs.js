// Starts Swagger UI (vendored, no CDN) on the OpenAPI document named by the page's data-openapi attribute.
// A file of its own, not an inline script, so the Content-Security-Policy can forbid inline scripts.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
