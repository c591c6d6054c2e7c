// The join page of a class (classroom mode): a display name is all it asks. The join key comes from the
// join URL the teacher gave out (?key=...); the server answers with the learner's session cookie.
const $ = (id) => document.getElementById(id);
const key = new URLSearchParams(location.search).get('key') || '';

function fail(message) { $('join-error').textContent = message; $('join-error').hidden = false; }

if (!key) fail('This page needs the join link your teacher gave you (it ends with ?key=...).');

$('join-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('join-error').hidden = true;
  $('join-go').disabled = true;
  try {
    const response = await fetch('api/join', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                              body: JSON.stringify({name: $('join-name').value, key})});
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
    location.assign('/');
  } catch (err) {
    fail(err.message);
    $('join-go').disabled = false;
  }
});
