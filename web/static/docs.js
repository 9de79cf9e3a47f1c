// Swagger UI on the API's own description (served beside it: no CDN, works offline).
window.addEventListener("load", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({url: root.dataset.spec, dom_id: "#swagger-ui",
                               deepLinking: true, tryItOutEnabled: false});
});
