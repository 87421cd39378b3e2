// micro blog example: delete buttons send DELETE with the XSRF token in a header,
// the way a JavaScript client of an XSRF-protected micro app does.
"use strict";

function xsrfToken() {
  const meta = document.querySelector('meta[name="xsrf-token"]');
  return meta ? meta.content : "";
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-delete]");
  if (!button) {
    return;
  }
  const response = await fetch(button.dataset.delete, {
    method: "DELETE",
    headers: { "X-XSRFToken": xsrfToken() },
    credentials: "same-origin",
  });
  if (response.ok) {
    button.closest("article").remove();
  } else {
    alert("Could not delete: " + response.status + " " + response.statusText);
  }
});
