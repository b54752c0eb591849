# GivTCP settings. Copy this file to settings.py and edit it:   cp settings_template.py settings.py
# Every setting can also be given as an environment variable (the name in brackets), which
# overrides this file, so Docker and Node-RED users can work with environment variables alone.
# Booleans accept True/False, true/false, 1/0, yes/no.
class GiV_Settings:
    # -- Inverter ----------------------------------------------------------------------------
    invertorIP = ""  # [INVERTOR_IP] Required: IP address of the inverter's WiFi/LAN dongle
    invertorPort = "8899"  # [INVERTOR_PORT] the dongle's TCP port (change for the simulator)
    Request_Spacing = "0.25"  # [REQUEST_SPACING] seconds between requests; real dongles need ~0.25
    numBatteries = ""  # [NUM_BATTERIES] 0-6; empty = probe 0x32-0x37 and remember what answered

    # -- Outputs -----------------------------------------------------------------------------
    JSON_Output = "True"  # [JSON_OUTPUT] print one JSON object per run on stdout
    Print_Raw_Registers = "False"  # [PRINT_RAW] add "raw/holding" and "raw/input" groups

    MQTT_Output = "False"  # [MQTT_OUTPUT]
    MQTT_Address = ""  # [MQTT_ADDRESS] broker host name or IP
    MQTT_Port = "1883"  # [MQTT_PORT]
    MQTT_Username = ""  # [MQTT_USERNAME] optional
    MQTT_Password = ""  # [MQTT_PASSWORD] optional; never logged
    MQTT_Topic = ""  # [MQTT_TOPIC] root topic; default "GivEnergy/<inverter serial>"
    MQTT_Retain = "True"  # [MQTT_RETAIN] retain state messages so subscribers see the last value
    MQTT_TLS = "False"  # [MQTT_TLS] connect with TLS
    MQTT_CA_File = ""  # [MQTT_CA_FILE] CA bundle for TLS (empty: the system's)
    MQTT_Cert_File = ""  # [MQTT_CERT_FILE] optional client certificate for TLS
    MQTT_Key_File = ""  # [MQTT_KEY_FILE] its private key
    HA_Discovery = "True"  # [HA_DISCOVERY] publish Home Assistant MQTT discovery configs

    Influx_Output = "False"  # [INFLUX_OUTPUT] InfluxDB v2 API
    influxURL = "http://localhost:8086"  # [INFLUX_URL]
    influxToken = ""  # [INFLUX_TOKEN] never logged
    influxBucket = "GivEnergy"  # [INFLUX_BUCKET]
    influxOrg = "GivTCP"  # [INFLUX_ORG]

    HA_Output = "False"  # [HA_OUTPUT] push states to Home Assistant's REST API
    HA_url = ""  # [HA_URL] e.g. http://homeassistant.local:8123
    HA_token = ""  # [HA_TOKEN] a long-lived access token; never logged

    # -- Debugging and state -----------------------------------------------------------------
    debug = "False"  # [DEBUG] also write a debug log to Debug_File_Location
    # [DEBUG_FILE_LOCATION] folder for givtcp_debug.log (default: the state folder)
    Debug_File_Location = ""
    # [STATE_LOCATION] folder for the last-good state; default: .state beside this file
    # (without a settings file: ~/.local/state/givtcp). It must be writable.
    State_Location = ""
    Data_Hold_Seconds = "300"  # [DATA_HOLD_SECONDS] publish a rejected value's last good one
    # while it is younger than this; 0 = never hold, leave such values out

    # -- REST --------------------------------------------------------------------------------
    REST_Token = ""  # [REST_TOKEN] when set, POST routes need "Authorization: Bearer <token>"
