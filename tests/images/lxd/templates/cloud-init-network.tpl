{% if config_get("cloud-init.network-config", "") != "" %}{{ config_get("cloud-init.network-config", "") }}{% else %}{{ config_get("user.network-config", properties.default) }}{% endif %}
