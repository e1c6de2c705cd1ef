/* Small progressive enhancements for every page (the pages work without them). */
(function () {
  'use strict'

  // Copy buttons: <button data-copy="#element-id">; the text of the element goes to the clipboard.
  function copyText (text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text)
    }
    // http:// origins (the embedded default) have no async clipboard: use a hidden textarea.
    const area = document.createElement('textarea')
    area.value = text
    area.setAttribute('readonly', '')
    area.style.position = 'fixed'
    area.style.opacity = '0'
    document.body.appendChild(area)
    area.select()
    try {
      document.execCommand('copy')
    } finally {
      document.body.removeChild(area)
    }
    return Promise.resolve()
  }

  document.addEventListener('click', function (event) {
    const button = event.target.closest('[data-copy]')
    if (!button) return
    const source = document.querySelector(button.getAttribute('data-copy'))
    if (!source) return
    copyText(source.innerText.trim()).then(function () {
      const note = button.parentElement.querySelector('.copied')
      if (note) {
        note.hidden = false
        setTimeout(function () { note.hidden = true }, 2500)
      }
      button.dataset.copiedText = source.innerText.trim()
    })
  })

  // New session form: only the chosen facility's instruments and projects; embargo date
  // only for an embargo. The server checks both again.
  function narrowChoices (form) {
    const facility = form.querySelector('select[name="facility"]')
    const options = JSON.parse((document.getElementById('facility-options') || {}).textContent || '{}')
    function apply () {
      const chosen = facility ? facility.value : ''
      ;['instrument', 'project'].forEach(function (name) {
        const select = form.querySelector('select[name="' + name + '"]')
        if (!select) return
        Array.from(select.options).forEach(function (option) {
          if (!option.value) return
          const owner = (options[name] || {})[option.value]
          const visible = !chosen || String(owner) === chosen
          option.hidden = !visible
          option.disabled = !visible
          if (!visible && option.selected) select.value = ''
        })
      })
    }
    if (facility) {
      facility.addEventListener('change', apply)
      apply()
    }
    const embargo = form.querySelector('[data-embargo-field]')
    if (embargo) {
      const radios = form.querySelectorAll('input[name="visibility"]')
      const toggle = function () {
        const value = (form.querySelector('input[name="visibility"]:checked') || {}).value
        embargo.hidden = value !== 'embargoed'
      }
      radios.forEach(function (radio) { radio.addEventListener('change', toggle) })
      toggle()
    }
  }

  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('form[data-new-session]').forEach(narrowChoices)
  })
})()
